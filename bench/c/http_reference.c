/* The HTTP server of examples/http_server.rs, written in C on the same libevent build:
 * what the Rust evhttp server is measured against. Same routes, same settings:
 *   GET /hello, POST /echo, GET /chunked?n=N (a chunk every 10 ms), GET /headers,
 *   404 for anything else, 413 for a body over 1 MiB (lingering close).
 * argv: HOST:PORT. Prints "listening on HOST:PORT"; exits 0 on SIGINT or SIGTERM. */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int is_get(struct evhttp_request *req) { return evhttp_request_get_command(req) == EVHTTP_REQ_GET; }

static void text(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, NULL, NULL);
}

static void hello(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (!is_get(req)) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	text(req, 200, "hello\n", 6);
}

static void echo(struct evhttp_request *req, void *arg)
{
	const char *ct;
	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (ct)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ct);
	evhttp_send_reply(req, 200, NULL, evhttp_request_get_input_buffer(req));
}

static void headers(struct evhttp_request *req, void *arg)
{
	struct evkeyval *h;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	(void)arg;
	if (!is_get(req)) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	for (h = evhttp_request_get_input_headers(req)->tqh_first; h; h = h->next.tqe_next)
		evbuffer_add_printf(out, "%s: %s\n", h->key, h->value);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, NULL, NULL);
}

struct feed {
	struct evhttp_request *req;
	struct event *timer;
	int sent, n;
};

static void feed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;
	(void)fd; (void)what;
	if (!evhttp_request_get_connection(f->req) || f->sent == f->n) {
		evhttp_send_reply_end(f->req); /* frees an abandoned request */
		event_free(f->timer);
		free(f);
		return;
	} else {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "chunk %d\n", ++f->sent);
		evhttp_send_reply_chunk(f->req, b);
		evbuffer_free(b);
	}
}

static void chunked(struct evhttp_request *req, void *arg)
{
	struct event_base *base = arg;
	struct evkeyvalq q;
	const char *v;
	int n = 0;
	struct feed *f;
	struct timeval every = { 0, 10000 };
	if (!is_get(req)) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	q.tqh_first = NULL;
	q.tqh_last = &q.tqh_first;
	if (evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) &&
	    evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)), &q) == 0 &&
	    (v = evhttp_find_header(&q, "n")) != NULL)
		n = atoi(v);
	evhttp_clear_headers(&q);
	if (n < 1 || n > 1000) {
		text(req, 400, "n must be from 1 to 1000\n", 25);
		return;
	}
	f = calloc(1, sizeof(*f));
	f->req = req;
	f->n = n;
	f->timer = event_new(base, -1, EV_PERSIST, feed_cb, f);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply_start(req, 200, NULL);
	event_add(f->timer, &every);
}

static void not_found(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, NULL);
}

static void stop(evutil_socket_t sig, short what, void *arg)
{
	(void)sig; (void)what;
	event_base_loopbreak(arg);
}

int c_http_reference_main(int argc, char **argv)
{
	struct event_base *base;
	struct event_config *cfg;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *sigint, *sigterm;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[64], shown[80];
	const char *addr = argc > 1 ? argv[1] : "127.0.0.1:8080";
	const char *colon = strrchr(addr, ':');
	int port;
	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "c-http-reference: address HOST:PORT expected\n");
		return 2;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	port = atoi(colon + 1);
	/* As the Rust example: epoll changes batched (EventBase::with_epoll_changelist). */
	cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	http = evhttp_new(base);
	evhttp_set_max_body_size(http, 1 << 20);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_cb(http, "/hello", hello, NULL);
	evhttp_set_cb(http, "/echo", echo, NULL);
	evhttp_set_cb(http, "/headers", headers, NULL);
	evhttp_set_cb(http, "/chunked", chunked, base);
	evhttp_set_gencb(http, not_found, NULL);
	bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (!bound) {
		fprintf(stderr, "c-http-reference: cannot bind %s\n", addr);
		return 1;
	}
	getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, shown, sizeof(shown));
	printf("listening on %s:%d\n", shown, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	sigint = evsignal_new(base, SIGINT, stop, base);
	sigterm = evsignal_new(base, SIGTERM, stop, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);
	event_free(sigint);
	event_free(sigterm);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
