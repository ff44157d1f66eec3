// GAN objectives and D's gradient regularisers, shared by every family.
export * from './gan.js';
export * from './penalties.js';
