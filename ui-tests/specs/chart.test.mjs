// The chart module's data shaping, without a browser: series on one x axis.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { align } from '../../crates/oxeye-server/ui/lib/chart.js';

test('series are aligned on the sorted union of their timestamps, with gaps as null', () => {
  const data = align([
    { points: [[10, 1], [30, 3], [50, 5]] },
    { points: [[20, 2], [30, 33], [60, 6]] },
    // out of time order and a timestamp that is not a number: still placed, the bad one left out
    { points: [[50, 55], [10, 11], [Number.NaN, 9]] },
    { points: [] },
  ]);
  assert.deepEqual(data, [
    [10, 20, 30, 50, 60],
    [1, null, 3, 5, null],
    [null, 2, 33, null, 6],
    [11, null, null, 55, null],
    [null, null, null, null, null],
  ]);
  assert.deepEqual(align([]), [[]]);
});
