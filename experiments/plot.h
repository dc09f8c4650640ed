/* plot.h: PNG plots through gnuplot (Debian gnuplot-nox). Each plot is a
 * NAME.gp script written beside its data and NAME.png, so a person can
 * re-run or restyle it. gnuplot runs in the output folder, without a shell,
 * so folder names need no quoting. */
#ifndef LUMI_PLOT_H
#define LUMI_PLOT_H
#include "../engine/util.h"

/* Bars with 95% CI error bars, one per row of a CSV (header line first):
 * x tick labels from column label_col, bar from mean_col, bars lo/hi. */
int lumi_plot_bars(const char *dir, const char *name, const char *title, const char *ylabel, const char *csv,
                   int label_col, int mean_col, int lo_col, int hi_col, LumiErr *e);
/* Points with y error bars at x from x_col, one series per data row,
 * titled labels[row] in the key. */
int lumi_plot_points(const char *dir, const char *name, const char *title, const char *xlabel, const char *ylabel,
                     const char *csv, int x_col, const char *const *labels, int rows, int mean_col, int lo_col,
                     int hi_col, LumiErr *e);
/* One line per column 2..ncols of a CSV whose column 1 is x (titles from the header). */
int lumi_plot_lines(const char *dir, const char *name, const char *title, const char *xlabel, const char *ylabel,
                    const char *csv, int ncols, LumiErr *e);

/* Runs `gnuplot NAME.gp` in dir. Returns 0 when NAME.png was written, 1 when
 * gnuplot is not installed (nothing to do but say so), -1 on failure. */
int lumi_plot_render(const char *dir, const char *name, LumiErr *e);

#endif
