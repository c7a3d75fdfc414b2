// tests/sdk/rnd.js — the seeded generator of the differential tests
// (diff.js, flags_diff.js): mulberry32, small and the same sequence on every
// machine. rng(seed) → {rnd (a float in [0, 1)), int(n), pick(array)}.
"use strict";
module.exports = function rng(seed) {
	let s = seed >>> 0;
	function rnd() {
		s = (s + 0x6d2b79f5) >>> 0;
		let t = s;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}
	const int = (n) => Math.floor(rnd() * n);
	const pick = (a) => a[int(a.length)];
	return { rnd, int, pick };
};
