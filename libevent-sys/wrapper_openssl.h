/* bufferevent_ssl.h, bound only with the `openssl` feature. */
#include <openssl/ssl.h>
#include <event2/bufferevent_ssl.h>
