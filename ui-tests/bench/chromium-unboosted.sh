#!/bin/sh
# Chromium started as root raises its browser, IO and compositor threads to nice -8 (it
# holds CAP_SYS_NICE); a browser on a user's desktop cannot. On a machine shared with the
# server that starves the server's query threads while the page draws, which no real user
# would see. This drops that one capability, so the browser's threads run at the same
# priority as the server's; everything else about the browser is unchanged.
exec setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice -- "${CHROMIUM_BIN:-/usr/bin/chromium}" "$@"
