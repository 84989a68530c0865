/*
 * bev.h — writing a socket bufferevent's output now, outside libevent's
 * own write callback.
 *
 * A socket bufferevent keeps the start of its output buffer frozen so
 * that only its write callback drains it; a plain evbuffer_write on it
 * writes nothing (ctld never got a daemon's last lines because of it).
 * bev_write_now thaws it for one write, as libevent does, and freezes it
 * again.  Returns the bytes the socket took.
 */
#ifndef STH_BEV_H
#define STH_BEV_H

#include <stddef.h>

struct bufferevent;
size_t bev_write_now(struct bufferevent *bev);

#endif
