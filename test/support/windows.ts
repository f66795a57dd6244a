/** The most of the ascending `times` found in any window of `windowMs`, wherever it starts. */
export function busiest(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let first = 0; first < times.length; first += 1) {
    let last = first;
    while (last + 1 < times.length && (times[last + 1] as number) < (times[first] as number) + windowMs) last += 1;
    most = Math.max(most, last - first + 1);
  }
  return most;
}
