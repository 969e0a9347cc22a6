/* The C half of the interop tests: a "C program" that owns a base and runs its loop,
 * and C code that registers events on a base Rust owns. */
#include <event2/event.h>
#include <stdlib.h>

struct event_base *c_program_make_base(void) { return event_base_new(); }

int c_program_run_loop(struct event_base *base) { return event_base_dispatch(base); }

void c_program_free_base(struct event_base *base) { event_base_free(base); }

struct counter {
	struct event *ev;
	int fired;
};

static void c_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct counter *c = arg;
	(void)fd;
	if (what & EV_TIMEOUT)
		c->fired++;
	event_free(c->ev);
	c->ev = NULL;
}

/* C registers a one-shot timer on a base Rust owns. */
struct counter *c_add_timer(struct event_base *base, long usec)
{
	struct counter *c = calloc(1, sizeof(*c));
	struct timeval tv = { 0, usec };
	if (!c)
		return NULL;
	c->ev = evtimer_new(base, c_timer_cb, c);
	if (!c->ev || evtimer_add(c->ev, &tv) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

int c_counter_fired(const struct counter *c) { return c->fired; }

void c_counter_free(struct counter *c)
{
	if (c->ev)
		event_free(c->ev);
	free(c);
}

/* A C program's HTTP server: it serves /c and /stop itself; Rust adds routes to it. */
#include <event2/http.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void c_http_reply(struct evhttp_request *req, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "%s", text);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void c_http_served(struct evhttp_request *req, void *arg)
{
	(void)arg;
	c_http_reply(req, "from C");
}

static void c_http_stop(struct evhttp_request *req, void *arg)
{
	struct timeval flush = { 0, 100000 };
	c_http_reply(req, "stopping");
	event_base_loopexit(arg, &flush);
}

struct evhttp *c_http_start(struct event_base *base, int *port)
{
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	if (!http)
		return NULL;
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0) {
		evhttp_free(http);
		return NULL;
	}
	*port = ntohs(sin.sin_port);
	evhttp_set_cb(http, "/c", c_http_served, NULL);
	evhttp_set_cb(http, "/stop", c_http_stop, base);
	return http;
}

void c_http_free(struct evhttp *http) { evhttp_free(http); }

/* A C program's resolver: no name server, names from a hosts file. */
#include <event2/dns.h>

struct evdns_base *c_dns_start(struct event_base *base, const char *hosts)
{
	struct evdns_base *dns = evdns_base_new(base, 0);
	if (dns && evdns_base_load_hosts(dns, hosts) != 0) {
		evdns_base_free(dns, 0);
		return NULL;
	}
	return dns;
}

void c_dns_free(struct evdns_base *dns) { evdns_base_free(dns, 0); }
