#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include "CBreakerSystem.h"

int cbs_accept_nonblocking(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cbs_accept_nonblocking_from(int fd, struct sockaddr_storage *address, socklen_t *length) {
    return accept4(fd, (struct sockaddr *)address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
