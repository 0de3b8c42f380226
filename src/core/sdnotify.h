/*
 * sdnotify: tells systemd (Type=notify) where the daemon is: READY=1,
 * RELOADING=1, STOPPING=1.  The sd_notify(3) datagram protocol is
 * implemented directly (one datagram to $NOTIFY_SOCKET), so outpost needs
 * no libsystemd and builds where systemd is absent.
 * Contract: sd_notify_state() sends state when NOTIFY_SOCKET is set and
 * returns 1 when sent, 0 when there is no manager to tell, -1 on error
 * (the daemon goes on either way: a lost notification is systemd's
 * timeout to report, not a reason to stop).
 */
#ifndef OUTPOST_SDNOTIFY_H
#define OUTPOST_SDNOTIFY_H

int sd_notify_state(const char *state);

#endif
