/*
 * bev.c — a socket bufferevent's output written now (bev.h).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "bev.h"

size_t
bev_write_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	int n;

	if (fd < 0 || evbuffer_get_length(out) == 0)
		return 0;
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	return n > 0 ? (size_t)n : 0;
}
