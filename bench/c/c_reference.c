/* c-reference: the PROTOCOL.md server written directly in C on libevent, the baseline
 * eventd is measured against. Same wiring as eventd: a listener paused at the connection
 * limit, one bufferevent per connection with read/write timeouts and the read high
 * watermark, the framing rules, QUIT, replies written out before closing. No log (eventd's
 * log is part of its protocol; benchmarks run it with --log-file /dev/null). */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#ifdef BENCH_TLS
/* --tls-cert/--tls-key (bench feature `tls`): each connection a TLS bufferevent, as
 * eventd --tls-cert has them, closed with close_notify. */
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
static SSL_CTX *tls_ctx;
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	int active, max, paused;
	struct timeval timeout;
	int use_timeout;
	size_t max_message;
};

struct conn {
	struct server *srv;
	unsigned char *pending;
	size_t len, cap;
};

static int trimmed(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\0' || b == 0x0b;
}

static void conn_free(struct bufferevent *bev, struct conn *c)
{
	struct server *s = c->srv;
#ifdef BENCH_TLS
	if (tls_ctx && bufferevent_openssl_get_ssl(bev))
		SSL_shutdown(bufferevent_openssl_get_ssl(bev));
#endif
	bufferevent_free(bev);
	free(c->pending);
	free(c);
	s->active--;
	if (s->paused && s->active < s->max) {
		evconnlistener_enable(s->listener);
		s->paused = 0;
	}
}

static void drained_cb(struct bufferevent *bev, void *arg)
{
	conn_free(bev, arg);
}

static void close_after_flush(struct bufferevent *bev, struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		conn_free(bev, c);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, drained_cb, NULL, c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in), start, end, i;
	unsigned char *m;
	if (c->len + n > c->cap) {
		size_t cap = (c->len + n) * 2;
		unsigned char *p = realloc(c->pending, cap);
		if (!p) {
			conn_free(bev, c);
			return;
		}
		c->pending = p;
		c->cap = cap;
	}
	evbuffer_remove(in, c->pending + c->len, n);
	c->len += n;
	n = c->len;
	if (!(n > c->srv->max_message || (n > 4 && c->pending[n - 2] == '\r' && c->pending[n - 1] == '\n')))
		return;
	start = 0;
	while (start < n && trimmed(c->pending[start]))
		start++;
	end = n;
	while (end > start && trimmed(c->pending[end - 1]))
		end--;
	c->len = 0;
	m = c->pending + start;
	n = end - start;
	if (n == 0 || (n == 1 && m[0] == '0'))
		return;
	if (n == 4 && toupper(m[0]) == 'Q' && toupper(m[1]) == 'U' && toupper(m[2]) == 'I' && toupper(m[3]) == 'T') {
		close_after_flush(bev, c);
		return;
	}
	if (n == 1)
		return;
	for (i = 0; i < n; i++)
		if (m[i] >= 'a' && m[i] <= 'z')
			m[i] -= 32;
	m[n] = '\r'; /* room: the CRLF (or more) that was trimmed, or grown below */
	if (end + 2 > c->cap || end == c->cap) {
		bufferevent_write(bev, m, n);
		bufferevent_write(bev, "\r\n", 2);
		return;
	}
	m[n + 1] = '\n';
	bufferevent_write(bev, m, n + 2);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_EOF)
		close_after_flush(bev, c);
	else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(bev, c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct server *s = arg;
	struct bufferevent *bev;
	struct conn *c = calloc(1, sizeof(*c));
	(void)sa;
	(void)len;
#ifdef BENCH_TLS
	if (tls_ctx) {
		SSL *ssl = SSL_new(tls_ctx);
		bev = ssl ? bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (bev)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		else if (ssl)
			SSL_free(ssl);
	} else
#endif
	bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c || !bev) {
		free(c);
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(fd);
		return;
	}
	c->srv = s;
	bufferevent_setcb(bev, read_cb, NULL, event_cb, c);
	if (s->use_timeout)
		bufferevent_set_timeouts(bev, &s->timeout, &s->timeout);
	bufferevent_setwatermark(bev, EV_READ, 0, 0xffffff);
	bufferevent_enable(bev, EV_READ);
	if (++s->active >= s->max) {
		evconnlistener_disable(l);
		s->paused = 1;
	}
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

/* argv: --listen HOST:PORT [--timeout S] [--max-connections N] [--tls-cert PEM --tls-key PEM] */
int c_reference_main(int argc, char **argv)
{
	struct server s;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), i;
	const char *listen_on = "127.0.0.1:1234";
	struct event *sigint, *sigterm;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	memset(&s, 0, sizeof(s));
	s.max = 100;
	s.max_message = 1000;
	s.timeout.tv_sec = 10;
	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--listen"))
			listen_on = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout"))
			s.timeout.tv_sec = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--max-connections"))
			s.max = atoi(argv[i + 1]);
#ifdef BENCH_TLS
		else if (!strcmp(argv[i], "--tls-cert") || !strcmp(argv[i], "--tls-key")) {
			if (!tls_ctx && !(tls_ctx = SSL_CTX_new(TLS_server_method()))) {
				fprintf(stderr, "c-reference: SSL_CTX_new failed\n");
				return 1;
			}
			if (!strcmp(argv[i], "--tls-cert") ? SSL_CTX_use_certificate_chain_file(tls_ctx, argv[i + 1]) != 1
			                                 : SSL_CTX_use_PrivateKey_file(tls_ctx, argv[i + 1], SSL_FILETYPE_PEM) != 1) {
				fprintf(stderr, "c-reference: cannot read %s\n", argv[i + 1]);
				return 1;
			}
		}
#endif
		else {
			fprintf(stderr, "c-reference: unknown flag %s\n", argv[i]);
			return 2;
		}
	}
	s.use_timeout = s.timeout.tv_sec > 0;
	{
		/* IPv4 HOST:PORT, port 0 allowed (libevent's parser refuses it). */
		char host[64];
		const char *colon = strrchr(listen_on, ':');
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof(ss));
		if (!colon || (size_t)(colon - listen_on) >= sizeof(host) || s.max < 1) {
			fprintf(stderr, "c-reference: bad arguments\n");
			return 2;
		}
		memcpy(host, listen_on, colon - listen_on);
		host[colon - listen_on] = '\0';
		in4->sin_family = AF_INET;
		in4->sin_port = htons((unsigned short)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
			fprintf(stderr, "c-reference: bad address %s\n", listen_on);
			return 2;
		}
		sslen = sizeof(*in4);
	}
	s.base = event_base_new();
	s.listener = evconnlistener_new_bind(s.base, accept_cb, &s, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 1024,
	                                     (struct sockaddr *)&ss, sslen);
	if (!s.listener) {
		perror("c-reference: listen");
		return 1;
	}
	getsockname(evconnlistener_get_fd(s.listener), (struct sockaddr *)&sin, &slen);
	printf("Listening on %s:%d...\n", inet_ntoa(sin.sin_addr), ntohs(sin.sin_port));
	fflush(stdout);
	sigint = evsignal_new(s.base, SIGINT, stop_cb, s.base);
	sigterm = evsignal_new(s.base, SIGTERM, stop_cb, s.base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(s.base);
	event_free(sigint);
	event_free(sigterm);
	evconnlistener_free(s.listener);
	event_base_free(s.base);
	return 0;
}
