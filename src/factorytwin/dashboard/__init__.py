"""The live web dashboard (NiceGUI), served by the API's own FastAPI app on the same port.

``mount_dashboard(app, twin)`` adds the pages to the app; NiceGUI serves its JavaScript, CSS and
ECharts from its wheel, so nothing is loaded from the internet. NiceGUI keeps one application per
process, so the dashboard is mounted once per process.

| page | who | what |
|---|---|---|
| ``/`` | viewer | each line drawn as stations and buffers, throughput against target, OEE, bottleneck, alerts |
| ``/station/<path>`` | viewer | state timeline, OEE breakdown, trends with normal ranges, SPC; operators: setpoints |
| ``/alerts`` | viewer | open alerts (operators acknowledge) and the last 24 hours |
| ``/whatif`` | engineer | changes to a line simulated against the baseline with confidence intervals |
"""

from .mount import mount_dashboard

__all__ = ["mount_dashboard"]
