"""Metrics, collected by the server beside the experiment service.

- ``service``: ``MetricsService``, its settings (``c.MetricsService.*``), collectors and answers;
- ``collector``: one experiment's collection from logs, TensorBoard events and tracking rows;
- ``parse``: metrics in a printed line (Katib's format, JSON lines, filters), pure;
- ``downsample``: a series bounded to its first, newest and extreme points, pure;
- ``tensorboard``, ``tracking``: readers of event files and of Submarine's SDK's SQLite file.

Nothing is imported here, so the store may use ``downsample`` without importing the service.
"""
