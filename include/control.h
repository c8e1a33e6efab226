/* The control socket protocol shared by bulkheadd, bulkheadctl and
 * bulkhead-cni: a unix stream socket, one JSON object per line each way.
 *
 * Request:  {"version":1,"op":"<op>", ...op fields...}\n
 * Reply:    {"version":1,"ok":true, ...}\n
 *       or  {"version":1,"ok":false,"error":"message"}\n
 * A request longer than CONTROL_MAX_REQUEST bytes, or not JSON, or of an
 * unknown version/op gets an error reply and changes nothing. Ops that
 * change state (attach, detach, reload) need peer uid 0 (SO_PEERCRED). */
#ifndef BULKHEAD_CONTROL_H
#define BULKHEAD_CONTROL_H

#define CONTROL_VERSION 1
#define CONTROL_MAX_REQUEST (64 * 1024)
#define CONTROL_DEFAULT_SOCKET "/run/bulkhead/bulkhead.sock"
#define CONTROL_SOCKET_ENV "BULKHEAD_SOCKET"

#endif
