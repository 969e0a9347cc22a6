/* The C half of the evrpc interop tests: a server and a client written the way upstream's
 * documentation shows, on C structs that event_rpcgen.py generated from calc.rpc. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/rpc.h>
#include <event2/rpc_struct.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "calc.gen.h"

EVRPC_HEADER(Add, Operands, Total)
EVRPC_GENERATE(Add, Operands, Total)

/* Operands marshalled by the generated code, to compare with Rust's bytes. */
int c_rpc_marshal_operands(struct evbuffer *out, ev_uint32_t a, ev_uint32_t b, const char *label)
{
	struct Operands *op = Operands_new();
	if (!op)
		return -1;
	EVTAG_ASSIGN(op, a, a);
	EVTAG_ASSIGN(op, b, b);
	EVTAG_ASSIGN(op, label, label);
	Operands_marshal(out, op);
	Operands_free(op);
	return 0;
}

/* ---- a C server ---- */

struct c_rpc_server {
	struct evhttp *http;
	struct evrpc_base *rpc;
	int calls;
};

static void c_rpc_add(EVRPC_STRUCT(Add) *rpc, void *arg)
{
	struct c_rpc_server *s = arg;
	ev_uint32_t a = 0, b = 0;
	char *label = NULL;
	char out[256];
	EVTAG_GET(rpc->request, a, &a);
	EVTAG_GET(rpc->request, b, &b);
	EVTAG_GET(rpc->request, label, &label);
	snprintf(out, sizeof(out), "c saw %s", label ? label : "");
	EVTAG_ASSIGN(rpc->reply, sum, a + b);
	EVTAG_ASSIGN(rpc->reply, label, out);
	s->calls++;
	EVRPC_REQUEST_DONE(rpc);
}

struct c_rpc_server *c_rpc_server_start(struct event_base *base, int *port)
{
	struct c_rpc_server *s = calloc(1, sizeof(*s));
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	if (!s)
		return NULL;
	s->http = evhttp_new(base);
	bound = s->http ? evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0) : NULL;
	if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0)
		goto fail;
	*port = ntohs(sin.sin_port);
	s->rpc = evrpc_init(s->http);
	if (!s->rpc || EVRPC_REGISTER(s->rpc, Add, Operands, Total, c_rpc_add, s) != 0)
		goto fail;
	return s;
fail:
	if (s->rpc)
		evrpc_free(s->rpc);
	if (s->http)
		evhttp_free(s->http);
	free(s);
	return NULL;
}

int c_rpc_server_calls(const struct c_rpc_server *s) { return s->calls; }

void c_rpc_server_free(struct c_rpc_server *s)
{
	evrpc_free(s->rpc);
	evhttp_free(s->http);
	free(s);
}

/* ---- a C client ---- */

struct c_rpc_client {
	struct evrpc_pool *pool;
	int done;
	int error;
	ev_uint32_t sum;
	char label[256];
};

/* evrpc sends no Host header, which HTTP/1.1 requires (and a strict server demands): a C
 * client adds it with an output hook, as this one does. */
static int c_rpc_add_host(void *ctx, struct evhttp_request *req, struct evbuffer *body, void *arg)
{
	(void)ctx;
	(void)body;
	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	return EVRPC_CONTINUE;
}

static void c_rpc_replied(struct evrpc_status *status, struct Operands *req, struct Total *rep, void *arg)
{
	struct c_rpc_client *c = arg;
	char *label = NULL;
	c->done = 1;
	c->error = status->error;
	if (status->error == EVRPC_STATUS_ERR_NONE) {
		EVTAG_GET(rep, sum, &c->sum);
		if (EVTAG_GET(rep, label, &label) == 0 && label)
			snprintf(c->label, sizeof(c->label), "%s", label);
	}
	Operands_free(req);
	Total_free(rep);
}

struct c_rpc_client *c_rpc_call(struct event_base *base, int port, ev_uint32_t a, ev_uint32_t b,
    const char *label, int with_host)
{
	struct c_rpc_client *c = calloc(1, sizeof(*c));
	struct bufferevent *bev;
	struct evhttp_connection *conn;
	struct Operands *req;
	struct Total *rep;
	if (!c || !(c->pool = evrpc_pool_new(base)))
		goto fail;
	/* evrpc_pool_add_connection gives the connection the pool's base, and asserts it has
	 * none yet; its bufferevent needs one to be made. */
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	conn = bev ? evhttp_connection_base_bufferevent_new(NULL, NULL, bev, "127.0.0.1", (ev_uint16_t)port) : NULL;
	if (!conn)
		goto fail;
	evrpc_pool_add_connection(c->pool, conn);
	if (with_host && !evrpc_add_hook(c->pool, EVRPC_OUTPUT, c_rpc_add_host, NULL))
		goto fail;
	req = Operands_new();
	rep = Total_new();
	if (!req || !rep)
		goto fail;
	EVTAG_ASSIGN(req, a, a);
	EVTAG_ASSIGN(req, b, b);
	EVTAG_ASSIGN(req, label, label);
	if (EVRPC_MAKE_REQUEST(Add, c->pool, req, rep, c_rpc_replied, c) != 0)
		goto fail;
	return c;
fail:
	if (c && c->pool)
		evrpc_pool_free(c->pool);
	free(c);
	return NULL;
}

int c_rpc_client_done(const struct c_rpc_client *c) { return c->done; }
int c_rpc_client_error(const struct c_rpc_client *c) { return c->error; }
ev_uint32_t c_rpc_client_sum(const struct c_rpc_client *c) { return c->sum; }
const char *c_rpc_client_label(const struct c_rpc_client *c) { return c->label; }

void c_rpc_client_free(struct c_rpc_client *c)
{
	evrpc_pool_free(c->pool);
	free(c);
}
