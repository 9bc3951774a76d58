/* Network helpers for fixtures. */
#ifndef STRAND_FIXTURE_NET_H
#define STRAND_FIXTURE_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TCP connection on loopback whose peer has closed while this side keeps
 * its descriptor: the socket sits in CLOSE_WAIT. Returns that descriptor. */
static int __attribute__((unused)) fixture_close_wait_socket(void)
{
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	bind(listener, (struct sockaddr *)&addr, sizeof(addr));
	listen(listener, 1);
	getsockname(listener, (struct sockaddr *)&addr, &len);
	int client = socket(AF_INET, SOCK_STREAM, 0);
	connect(client, (struct sockaddr *)&addr, sizeof(addr));
	int server = accept(listener, NULL, NULL);
	close(client);
	close(listener);
	return server;
}

#endif
