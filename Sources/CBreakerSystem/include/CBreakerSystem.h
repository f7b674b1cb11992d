#ifndef C_BREAKER_SYSTEM_H
#define C_BREAKER_SYSTEM_H

// System headers that Swift's Glibc module does not expose (epoll, eventfd, TCP options).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC): a GNU extension, so wrapped in C.
int cbs_accept_nonblocking(int fd);

/// The same, filling in the peer's address (read at accept: a peer that resets at once still has one).
int cbs_accept_nonblocking_from(int fd, struct sockaddr_storage *address, socklen_t *length);

#endif
