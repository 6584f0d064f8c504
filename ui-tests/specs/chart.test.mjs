// The chart module's data shaping, without a browser: series on one x axis, the y range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { align, yBounds } from '../../crates/oxeye-server/ui/lib/chart.js';

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

test('the y axis holds the data, the markers and zero for stacks; a flat zero line gets 0 to 1', () => {
  assert.deepEqual(yBounds(2, 5), [2, 5]);
  assert.deepEqual(yBounds(2, 5, [7, 1]), [1, 7], 'exemplars outside the data');
  assert.deepEqual(yBounds(2, 5, [], true), [0, 5], 'stacked areas start at zero');
  assert.deepEqual(yBounds(-3, -1, [], true), [-3, 0]);
  assert.deepEqual(yBounds(3, 3), [3, 3], 'a flat line elsewhere is padded by the caller');
  assert.equal(yBounds(0, 0), null, 'a flat zero line: the caller draws 0 to 1');
  assert.equal(yBounds(null, null), null, 'no data');
  assert.deepEqual(yBounds(null, null, [4]), [4, 4], 'markers alone');
});
