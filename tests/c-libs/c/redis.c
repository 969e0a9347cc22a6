/* hiredis's asynchronous client on a libevent base, through hiredis's own libevent
 * adapter (hiredis/adapters/libevent.h, header-only: it is compiled here, against the
 * libevent headers of this build, and so registers its events on this build's libevent).
 *
 * Every reply goes to one callback of the link's, as text (what redis-cli would show,
 * flattened), with the tag the command was sent with; connection events go to another. */
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*rlink_reply_fn)(void *arg, unsigned long tag, const char *text, size_t len);
typedef void (*rlink_event_fn)(void *arg, const char *what);

struct rlink {
	redisAsyncContext *ac; /* NULL once hiredis has freed it */
	rlink_reply_fn on_reply;
	rlink_event_fn on_event;
	void *arg;
};

/* Appends a reply to out, flattened: +status, -error, :integer, $string, nil,
 * *n[elem,elem]. */
static void format_reply(const redisReply *r, char **out, size_t *len, size_t *cap)
{
	char head[64];
	const char *body = NULL;
	size_t blen = 0, i;
	int n = 0;
	switch (r->type) {
	case REDIS_REPLY_STATUS: n = snprintf(head, sizeof(head), "+"); body = r->str; blen = r->len; break;
	case REDIS_REPLY_ERROR: n = snprintf(head, sizeof(head), "-"); body = r->str; blen = r->len; break;
	case REDIS_REPLY_STRING: n = snprintf(head, sizeof(head), "$"); body = r->str; blen = r->len; break;
	case REDIS_REPLY_INTEGER: n = snprintf(head, sizeof(head), ":%lld", r->integer); break;
	case REDIS_REPLY_NIL: n = snprintf(head, sizeof(head), "nil"); break;
	case REDIS_REPLY_ARRAY: n = snprintf(head, sizeof(head), "*%zu[", r->elements); break;
	default: n = snprintf(head, sizeof(head), "?%d", r->type); break;
	}
	while (*len + (size_t)n + blen + 2 > *cap) {
		*cap = *cap * 2 + 64;
		*out = realloc(*out, *cap);
	}
	memcpy(*out + *len, head, (size_t)n);
	*len += (size_t)n;
	if (body) {
		memcpy(*out + *len, body, blen);
		*len += blen;
	}
	if (r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r->elements; i++) {
			if (i > 0)
				(*out)[(*len)++] = ',';
			format_reply(r->element[i], out, len, cap);
		}
		(*out)[(*len)++] = ']';
	}
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rlink *l = ac->data;
	char *text = NULL;
	size_t len = 0, cap = 0;
	if (!l)
		return;
	if (!reply) {
		/* The command will not be answered: the connection went. */
		l->on_reply(l->arg, (unsigned long)privdata, NULL, 0);
		return;
	}
	format_reply(reply, &text, &len, &cap);
	l->on_reply(l->arg, (unsigned long)privdata, text, len);
	free(text);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rlink *l = ac->data;
	char what[256];
	if (status == REDIS_OK)
		snprintf(what, sizeof(what), "connected");
	else
		snprintf(what, sizeof(what), "connect failed: %s", ac->errstr);
	if (status != REDIS_OK)
		l->ac = NULL; /* hiredis frees the context after this callback */
	l->on_event(l->arg, what);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rlink *l = ac->data;
	char what[256];
	if (status == REDIS_OK)
		snprintf(what, sizeof(what), "disconnected");
	else
		snprintf(what, sizeof(what), "disconnected: %s", ac->errstr);
	l->ac = NULL; /* hiredis frees the context after this callback */
	l->on_event(l->arg, what);
}

struct rlink *rlink_connect(struct event_base *base, const char *ip, int port,
    rlink_reply_fn reply, rlink_event_fn event, void *arg)
{
	struct rlink *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->on_reply = reply;
	l->on_event = event;
	l->arg = arg;
	l->ac = redisAsyncConnect(ip, port);
	if (!l->ac || l->ac->err) {
		if (l->ac)
			redisAsyncFree(l->ac);
		free(l);
		return NULL;
	}
	l->ac->data = l;
	if (redisLibeventAttach(l->ac, base) != REDIS_OK) {
		redisAsyncFree(l->ac);
		free(l);
		return NULL;
	}
	redisAsyncSetConnectCallback(l->ac, on_connect);
	redisAsyncSetDisconnectCallback(l->ac, on_disconnect);
	return l;
}

/* Sends a command (argc arguments, binary-safe); its replies come with tag. -1 when the
 * connection is gone. */
int rlink_command(struct rlink *l, unsigned long tag, int argc, const char **argv, const size_t *lens)
{
	if (!l->ac)
		return -1;
	return redisAsyncCommandArgv(l->ac, on_reply, (void *)tag, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

/* 1 while hiredis still has the connection. */
int rlink_alive(const struct rlink *l) { return l->ac != NULL; }

/* Ends the connection once the replies owed are in (the disconnect event follows). */
void rlink_disconnect(struct rlink *l)
{
	if (l->ac)
		redisAsyncDisconnect(l->ac);
}

/* Frees the link; a connection still open is dropped at once (its pending commands get
 * a NULL reply first, which goes nowhere: the callbacks are detached). */
void rlink_free(struct rlink *l)
{
	if (l->ac) {
		redisAsyncContext *ac = l->ac;
		ac->data = NULL;
		ac->onDisconnect = NULL;
		redisAsyncFree(ac);
	}
	free(l);
}
