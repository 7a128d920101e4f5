import type { DataFormat } from '../format';
import { cifarBinary } from './cifar-binary';
import { npyFiles } from './npy';
import { pickleBatches } from './pickle-batches';
import { sphericalGzip } from './spherical-gzip';
import { svhnMat } from './svhn-mat';

/**
 * Every file format a task's training set is read from, tried in this order (the first that
 * recognises the path reads it). Taskonomy's folders have their own loader (taskonomy.ts).
 * A new format: one file in this folder and one line here.
 */
export const DATA_FORMATS: readonly DataFormat[] = [cifarBinary, pickleBatches, svhnMat, sphericalGzip, npyFiles];
