export { loadRegistry, pluginPackages } from './plugins.js';
