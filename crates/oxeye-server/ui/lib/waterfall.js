// The trace waterfall: span tree, timing bars, details and the critical path.

export {};
