import { z } from 'zod';

const optionsSchema = z.object({ weight: z.number().positive().default(1) }).strict();

export default {
  specificationVersion: 'v1',
  kind: 'objective',
  name: 'fixture-objective',
  description: 'Test fixture loaded by module specifier.',
  optionsSchema,
  create: (options: z.infer<typeof optionsSchema>) => ({ id: 'objective:fixture-objective', weight: options.weight }),
};
