// The light syslog receiver's frame counting: octet-counted and LF frames, split anywhere across reads.
import { describe, expect, it } from 'vitest';
import { FrameCounter } from './syslog-receiver.js';

describe('FrameCounter', () => {
  it('counts octet-counted (length in bytes) and LF frames, however the stream is cut', () => {
    const a = '<134>1 - - - - - - héllo\nwith a newline';
    const stream = Buffer.from(`${Buffer.byteLength(a)} ${a}<14>plain line\n${Buffer.byteLength('x')} x`);
    for (let cut = 1; cut < stream.length; cut++) {
      const c = new FrameCounter(true);
      c.push(stream.subarray(0, cut));
      c.push(stream.subarray(cut));
      expect(c.frames).toBe(3);
      expect(c.kept).toEqual([a, '<14>plain line', 'x']);
    }
  });
});
