/* plot.c: see plot.h. */
#include "plot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The common head of every script: a readable PNG, large type, a grid. */
static const char *HEAD = "set terminal pngcairo size 900,540 font 'Sans,12'\n"
                          "set output '%s.png'\n"
                          "set termoption noenhanced\n"
                          "set datafile separator ','\n"
                          "set key autotitle columnhead\n"
                          "set grid ytics lc rgb '#dddddd'\n"
                          "set title '%s'\n"
                          "set border 3\nset tics nomirror\n"
                          /* twelve distinguishable colours before any repeats */
                          "set linetype 1 lc rgb '#4477aa'\nset linetype 2 lc rgb '#ee6677'\n"
                          "set linetype 3 lc rgb '#228833'\nset linetype 4 lc rgb '#ccbb44'\n"
                          "set linetype 5 lc rgb '#66ccee'\nset linetype 6 lc rgb '#aa3377'\n"
                          "set linetype 7 lc rgb '#000000'\nset linetype 8 lc rgb '#ee7733'\n"
                          "set linetype 9 lc rgb '#999999'\nset linetype 10 lc rgb '#0077bb'\n"
                          "set linetype 11 lc rgb '#882255'\nset linetype 12 lc rgb '#44aa99'\n"
                          "set linetype cycle 12\n";

static int write_script(const char *dir, const char *name, const char *body, LumiErr *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    return lumi_write_atomic(path, body, strlen(body), e);
}

/* gnuplot quoted strings are single-quoted; a quote in a title becomes a space */
static void clean(char *dst, size_t n, const char *s) {
    snprintf(dst, n, "%s", s);
    for (char *p = dst; *p; p++)
        if (*p == '\'') *p = ' ';
}

int lumi_plot_bars(const char *dir, const char *name, const char *title, const char *ylabel, const char *csv,
                   int label_col, int mean_col, int lo_col, int hi_col, LumiErr *e) {
    char t[256], y[128], body[4096];
    clean(t, sizeof t, title);
    clean(y, sizeof y, ylabel);
    int k = snprintf(body, sizeof body, HEAD, name, t);
    snprintf(body + k, sizeof body - (size_t)k,
             "set ylabel '%s'\nset style fill solid 0.6 border -1\nset boxwidth 0.6\n"
             "set xtics rotate by -30\nset yrange [0:*]\nunset key\n"
             "plot '%s' using 0:%d:xtic(%d) with boxes lc rgb '#4477aa', \\\n"
             /* the CI as a vector with flat heads: yerrorbars leave a gap at the mean */
             "     '' using 0:%d:(0):($%d-$%d) with vectors heads size screen 0.008,90 lc rgb 'black' lw 1.5\n",
             y, csv, mean_col, label_col, lo_col, hi_col, lo_col);
    return write_script(dir, name, body, e);
}

int lumi_plot_points(const char *dir, const char *name, const char *title, const char *xlabel, const char *ylabel,
                     const char *csv, int x_col, const char *const *labels, int rows, int mean_col, int lo_col,
                     int hi_col, LumiErr *e) {
    char t[256], x[128], y[128], lab[128];
    clean(t, sizeof t, title);
    clean(x, sizeof x, xlabel);
    clean(y, sizeof y, ylabel);
    size_t cap = 4096 + (size_t)rows * 256, k;
    char *body = lumi_xmalloc(cap);
    k = (size_t)snprintf(body, cap, HEAD, name, t);
    /* one series per row, so each sampler gets a colour, a marker and a key
     * entry; rows at the same x are spread a little so none hides another */
    k += (size_t)snprintf(body + k, cap - k,
                          "set xlabel '%s'\nset ylabel '%s'\nset key outside right top\n"
                          "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\nplot ",
                          x, y);
    for (int i = 0; i < rows; i++) {
        clean(lab, sizeof lab, labels[i]);
        k += (size_t)snprintf(body + k, cap - k,
                              "%s'%s' every ::%d::%d using ($%d+%.4f):%d:%d:%d with yerrorbars lt %d pt %d ps 1.4 "
                              "lw 1.5 title '%s'",
                              i ? ", \\\n     " : "", i ? "" : csv, i, i, x_col, 0.012 * (i - (rows - 1) / 2.0),
                              mean_col, lo_col, hi_col, i + 1, 5 + 2 * (i % 4), lab);
    }
    snprintf(body + k, cap - k, "\n");
    int rc = write_script(dir, name, body, e);
    free(body);
    return rc;
}

int lumi_plot_lines(const char *dir, const char *name, const char *title, const char *xlabel, const char *ylabel,
                    const char *csv, int ncols, LumiErr *e) {
    char t[256], x[128], y[128], body[4096];
    clean(t, sizeof t, title);
    clean(x, sizeof x, xlabel);
    clean(y, sizeof y, ylabel);
    int k = snprintf(body, sizeof body, HEAD, name, t);
    snprintf(body + k, sizeof body - (size_t)k,
             "set xlabel '%s'\nset ylabel '%s'\nset key outside right top\n"
             "plot for [i=2:%d] '%s' using 1:i with linespoints lt i-1 pt i ps 0.6 lw 2\n",
             x, y, ncols, csv);
    return write_script(dir, name, body, e);
}

int lumi_plot_render(const char *dir, const char *name, LumiErr *e) {
    char script[512];
    snprintf(script, sizeof script, "%s.gp", name);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return lumi_err(e, "gnuplot: cannot fork");
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(126);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127); /* not installed */
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return lumi_err(e, "gnuplot: wait failed");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return 1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return lumi_err(e, "%s/%s.gp: gnuplot failed (status %d)", dir, name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
