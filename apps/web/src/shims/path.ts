// node:path for the bundle: the POSIX subset the packages use (URL-style paths of fetched files).
const normalize = (parts: string[]): string => {
  const out: string[] = [];
  for (const p of parts.join('/').split('/')) {
    if (p === '..') out.pop();
    else if (p && p !== '.') out.push(p);
  }
  return out.join('/');
};
export const isAbsolute = (p: string): boolean => p.startsWith('/');
export const join = (...parts: string[]): string => (parts[0]?.startsWith('/') ? '/' : '') + normalize(parts);
export const resolve = (...parts: string[]): string => {
  const from = parts.reduce((acc, p) => (isAbsolute(p) ? p : `${acc}/${p}`), '/');
  return `/${normalize([from])}`;
};
export const dirname = (p: string): string => {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i);
};
export const basename = (p: string): string => p.replace(/\/+$/, '').split('/').pop() ?? '';
export const extname = (p: string): string => {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i);
};
export const relative = (from: string, to: string): string => {
  const a = resolve(from).split('/').filter(Boolean);
  const b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
};
export default { isAbsolute, join, resolve, dirname, basename, extname, relative };
