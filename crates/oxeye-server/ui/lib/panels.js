// Dashboard panels: time series, stat, gauge, bar, table, logs and trace list.

export {};
