/* echo_server: a TCP echo server on a socket the host preopened, through wasi-libc's
 * accept/recv/send/poll/fcntl/shutdown (sock_accept, sock_recv, sock_send, poll_oneoff,
 * fd_fdstat_set_flags, sock_shutdown underneath).
 *
 *   echo_server serve N [PATH]  serve N clients one after the other: echo until EOF; a client
 *                               that breaks off mid-stream is reported and the next one
 *                               served. PATH (under a preopen) is printed first: libc found
 *                               the preopened directories although a socket follows them.
 *   echo_server info            facts about the listening socket (fdstat, prestat, errnos)
 *   echo_server dialog          one client, step by step, in lock-step with the test: the
 *                               test acts on the marker lines ("waiting", "send", ...)
 *
 * The listening socket is the first fd from 3 up that fstat says is a socket. stdout is
 * unbuffered so that the host sees every line as it is written. Every wait is a poll with a
 * 10 s timeout: a broken test ends with "timeout" and exit code 2, never hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

#define TIMEOUT_MS 10000

static const char *errname(int e) {
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case ECONNRESET: return "ECONNRESET";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOTSUP: return "ENOTSUP";
    case EPIPE: return "EPIPE";
    default: return "other";
    }
}

static int listener(void) {
    for (int fd = 3; fd < 64; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) return fd;
    }
    printf("no socket\n");
    exit(1);
}

/* Wait for `events` on fd; exit 2 on timeout. Returns revents. */
static int wait_for(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, TIMEOUT_MS);
    if (n <= 0) {
        printf("timeout\n");
        exit(2);
    }
    return p.revents;
}

static void set_nonblocking(int fd, int on) {
    if (fcntl(fd, F_SETFL, on ? O_NONBLOCK : 0) != 0) printf("fcntl errno %s\n", errname(errno));
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("open %s errno %d\n", path, errno);
        return;
    }
    char line[128];
    while (fgets(line, sizeof line, f)) printf("file: %s", line);
    fclose(f);
}

/* Echo one connection until EOF; returns bytes echoed, or -1 after printing an error. */
static long echo(int conn, int client) {
    char buf[4096];
    long total = 0;
    for (;;) {
        wait_for(conn, POLLIN);
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        if (n == 0) return total;
        if (n < 0) {
            printf("client %d: recv error %s\n", client, errname(errno));
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(conn, buf + off, (size_t)(n - off), 0);
            if (w < 0) {
                printf("client %d: send error %s\n", client, errname(errno));
                return -1;
            }
            off += w;
        }
        total += n;
    }
}

static int cmd_serve(int clients, const char *path) {
    int lfd = listener();
    printf("listener fd %d\n", lfd);
    if (path) print_file(path);
    for (int i = 1; i <= clients; i++) {
        printf("waiting %d\n", i);
        wait_for(lfd, POLLIN);
        int conn = accept(lfd, NULL, NULL);
        if (conn < 0) {
            printf("accept errno %s\n", errname(errno));
            return 1;
        }
        long n = echo(conn, i);
        if (n >= 0) printf("client %d: %ld bytes\n", i, n);
        close(conn);
    }
    printf("served %d\n", clients);
    return 0;
}

static int cmd_info(void) {
    int lfd = listener();
    __wasi_fdstat_t st;
    __wasi_errno_t e = __wasi_fd_fdstat_get(lfd, &st);
    printf("fdstat errno %d filetype %d flags %d accept_right %d\n", e, st.fs_filetype,
           st.fs_flags, !!(st.fs_rights_base & __WASI_RIGHTS_SOCK_ACCEPT));
    __wasi_prestat_t pre;
    printf("prestat errno %d\n", __wasi_fd_prestat_get(lfd, &pre));
    __wasi_filestat_t fst;
    e = __wasi_fd_filestat_get(lfd, &fst);
    printf("filestat errno %d filetype %d\n", e, fst.filetype);
    char buf[8];
    __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
    __wasi_size_t n;
    __wasi_roflags_t ro;
    printf("recv_listener errno %d\n", __wasi_sock_recv(lfd, &iov, 1, 0, &n, &ro));
    printf("recv_badflags errno %d\n", __wasi_sock_recv(lfd, &iov, 1, 4, &n, &ro));
    __wasi_ciovec_t ciov = {(const uint8_t *)buf, 1};
    printf("send_badflags errno %d\n", __wasi_sock_send(lfd, &ciov, 1, 1, &n));
    printf("shutdown_how0 errno %d\n", __wasi_sock_shutdown(lfd, 0));
    __wasi_fd_t fd;
    printf("accept_badflags errno %d\n", __wasi_sock_accept(lfd, __WASI_FDFLAGS_APPEND, &fd));
    printf("set_append errno %d\n", __wasi_fd_fdstat_set_flags(lfd, __WASI_FDFLAGS_APPEND));
    printf("seek errno %d\n", __wasi_fd_seek(lfd, 0, __WASI_WHENCE_CUR, &(__wasi_filesize_t){0}));
    set_nonblocking(lfd, 1);
    e = __wasi_fd_fdstat_get(lfd, &st);
    printf("nonblocking errno %d flags %d\n", e, st.fs_flags);
    int conn = accept(lfd, NULL, NULL);
    printf("accept %d errno %s\n", conn, errname(errno));
    set_nonblocking(lfd, 0);
    e = __wasi_fd_fdstat_get(lfd, &st);
    printf("blocking errno %d flags %d\n", e, st.fs_flags);
    printf("close errno %d\n", __wasi_fd_close(lfd));
    printf("fdstat_after_close errno %d\n", __wasi_fd_fdstat_get(lfd, &st));
    return 0;
}

static int cmd_dialog(void) {
    int lfd = listener();
    char buf[16];
    set_nonblocking(lfd, 1);
    int conn = accept(lfd, NULL, NULL);
    printf("accept %d errno %s\n", conn, errname(errno));
    printf("waiting\n");
    printf("poll listener revents %d\n", wait_for(lfd, POLLIN));
    conn = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (conn < 0) {
        printf("accept4 errno %s\n", errname(errno));
        return 1;
    }
    __wasi_fdstat_t st;
    __wasi_errno_t e = __wasi_fd_fdstat_get(conn, &st);
    printf("conn errno %d filetype %d flags %d\n", e, st.fs_filetype, st.fs_flags);
    ssize_t n = read(conn, buf, sizeof buf);
    printf("read %zd errno %s\n", n, errname(errno));
    printf("send\n");
    printf("poll conn revents %d\n", wait_for(conn, POLLIN));
    n = recv(conn, buf, sizeof buf, MSG_PEEK);
    printf("peek %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    set_nonblocking(conn, 0);
    printf("send rest\n");
    n = recv(conn, buf, 5, MSG_WAITALL);
    printf("waitall %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    n = write(conn, "pong", 4);
    printf("wrote %zd\n", n);
    printf("shutdown %d\n", shutdown(conn, SHUT_WR));
    printf("poll hangup revents %d\n", wait_for(conn, POLLIN));
    n = recv(conn, buf, sizeof buf, 0);
    printf("eof %zd\n", n);
    n = send(conn, "x", 1, 0);
    printf("send_after_shutdown %zd errno %s\n", n, errname(errno));
    printf("close %d\n", close(conn));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "serve")) return cmd_serve(atoi(argv[2]), argc > 3 ? argv[3] : NULL);
    if (argc == 2 && !strcmp(argv[1], "info")) return cmd_info();
    if (argc == 2 && !strcmp(argv[1], "dialog")) return cmd_dialog();
    fprintf(stderr, "usage: echo_server serve N [PATH] | info | dialog\n");
    return 64;
}
