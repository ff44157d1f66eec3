// `--aug diffaugment` for the families whose D judges images (DCGAN, PGGAN, StyleGAN,
// StyleGAN2, BigGAN): the options, and D's input transform they give. The family puts
// the transform in front of D everywhere D runs — on reals and fakes, for D's loss and
// G's — so D ∘ T is the discriminator. Its penalties then differentiate D ∘ T with
// respect to the un-augmented images, as the reference's StyleGAN2 port does (loss.py:
// R1's gradient is taken at real_img, which run_D augments before D).
import type { Tensor } from '../torch/index.js';
import { defineSchema, type OptionSpec } from '../config/options.js';
import { UsageError } from '../config/errors.js';
import { DEFAULT_POLICY, diffAugment, parsePolicy, policyProblem } from '../augment/diffaugment.js';

/** The policy option (the port's --DiffAugment), for a family that declares its own --aug. */
export const DIFFAUGMENT_OPTION = {
  type: 'string', default: null, metavar: 'POLICY',
  help: `DiffAugment's transforms with --aug diffaugment, comma-separated, applied in the order given: color, translation, cutout (default: ${DEFAULT_POLICY})`,
  check: (v) => policyProblem(String(v)),
} as const satisfies OptionSpec;

/** --aug and --diffaugment, for a family with no other augmentation. */
export const DIFFAUGMENT_SCHEMA = defineSchema({
  aug: { type: 'string', default: 'noaug', choices: ['noaug', 'diffaugment'], help: "augmentation of every image D sees, real or generated: 'diffaugment' (Zhao et al. 2020; see --diffaugment) or 'noaug'" },
  diffaugment: DIFFAUGMENT_OPTION,
});

/** D's input transform the options ask for, or null; a policy given without --aug diffaugment is an error. */
export function discriminatorAugment(o: { aug?: string; diffaugment?: string | null }): ((img: Tensor) => Tensor) | null {
  if (o.aug !== 'diffaugment') {
    // (Loose: options built by hand may lack the key.)
    if (o.diffaugment != null) throw new UsageError(`--diffaugment ${o.diffaugment} needs --aug diffaugment (it is '${o.aug}')`);
    return null;
  }
  const policy = parsePolicy(o.diffaugment ?? DEFAULT_POLICY);
  return (img) => diffAugment(img, policy);
}
