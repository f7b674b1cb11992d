#ifndef C_BREAKER_SYSTEM_H
#define C_BREAKER_SYSTEM_H

// System headers that Swift's Glibc module does not expose (epoll, eventfd, TCP options).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC): a GNU extension, so wrapped in C.
int cbs_accept_nonblocking(int fd);

#endif
