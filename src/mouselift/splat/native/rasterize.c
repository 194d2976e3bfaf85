/* mouselift's compiled CPU tile rasteriser (optional; the pure-PyTorch one is the reference).
 *
 * Plain C11, no Python or PyTorch headers: built by `python -m mouselift.splat.native build`
 * (run by `make install`) with the system C compiler and loaded through ctypes. Every function
 * works on caller-allocated, contiguous arrays and returns 0 on success; threads are the
 * caller's (each worker gets a fixed share of the tiles and its own gradient buffers).
 * The image rules are gsplat's "classic" ones, as in mouselift/splat/rasterize_dense.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ML_ABI_VERSION 1
#define ML_ALPHA_THRESHOLD (1.0 / 255.0)
#define ML_MAX_ALPHA 0.999
#define ML_TRANSMITTANCE_THRESHOLD 1e-4
#define ML_MAX_TILE 16
#define ML_MAX_PIXELS (ML_MAX_TILE * ML_MAX_TILE)
#define ML_MAX_CHANNELS 16

typedef struct {
    int64_t images;   /* C: images of one size, stacked */
    int64_t width;    /* W */
    int64_t height;   /* H */
    int64_t tile_size;
    int64_t tiles_x;  /* ceil(W / tile_size) */
    int64_t tiles_y;
    int64_t channels; /* D: colour channels composited */
} ml_grid;

/* The cameras of one projection call: C cameras of one image size, gsplat's defaults. */
typedef struct {
    int64_t cameras;
    int64_t width;
    int64_t height;
    double eps2d;
    double near_plane;
    double far_plane;
} ml_view;

#define ML_MAX_CAMERAS 1024

int ml_abi_version(void) { return ML_ABI_VERSION; }
int ml_max_tile(void) { return ML_MAX_TILE; }
int ml_max_channels(void) { return ML_MAX_CHANNELS; }
int ml_max_cameras(void) { return ML_MAX_CAMERAS; }

#define ML_INLINE inline __attribute__((always_inline))
/* x86-64 Linux: each kernel also compiled for AVX2, picked at load time (ifunc); build with
 * -DML_NO_CLONES where the toolchain lacks target_clones (build() retries so). */
#if defined(__x86_64__) && defined(__linux__) && !defined(ML_NO_CLONES)
#define ML_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ML_CLONES
#endif

/* The rows [*r0, *r1) of a tile (relative row y = v - tile's first row, ymean = my - first
 * row) that hold pixels with sigma <= cut, sigma = 0.5 (a dx^2 + c dy^2) + b dx dy: the ellipse
 * spans |dy| <= sqrt(2 a cut / (a c - b^2)). In double, widened by 1e-3 px: a margin, never a
 * decision (the exact tests per pixel follow). A degenerate conic gets every row. */
static inline int ml_row_range(double a, double b, double c, double cut, double ymean, int rows,
                               int *r0, int *r1)
{
    const double det = a * c - b * b;
    if (!(det > 0 && a > 0)) {
        *r0 = 0;
        *r1 = rows;
        return rows > 0;
    }
    const double half = sqrt(fmax(2.0 * a * cut / det, 0.0)) + 1e-3;
    const double lo = ceil(ymean - half), hi = floor(ymean + half) + 1;
    *r0 = lo < 0 ? 0 : (lo > rows ? rows : (int)lo);
    *r1 = hi < 0 ? 0 : (hi > rows ? rows : (int)hi);
    return *r1 > *r0;
}

/* The columns [*q0, *q1) of one row (dy = my - row) with sigma <= cut: the roots of
 * 0.5 a dx^2 + b dy dx + 0.5 c dy^2 - cut, dx = xmean - column; as ml_row_range. */
static inline int ml_col_range(double a, double b, double c, double cut, double xmean,
                               double dy, int cols, int *q0, int *q1)
{
    const double disc = 2.0 * a * cut - dy * dy * (a * c - b * b);
    if (!(a > 0) || !(a * c - b * b > 0)) {
        *q0 = 0;
        *q1 = cols;
        return cols > 0;
    }
    if (disc < -1e-6 * (1.0 + fabs(2.0 * a * cut))) return 0;
    const double root = sqrt(fmax(disc, 0.0));
    const double dx_lo = (-b * dy - root) / a, dx_hi = (-b * dy + root) / a;
    const double lo = ceil(xmean - dx_hi - 1e-3), hi = floor(xmean - dx_lo + 1e-3) + 1;
    *q0 = lo < 0 ? 0 : (lo > cols ? cols : (int)lo);
    *q1 = hi < 0 ? 0 : (hi > cols ? cols : (int)hi);
    return *q1 > *q0;
}

static inline float ml_expneg_f32(float sigma) { return expf(-sigma); }
static inline double ml_expneg_f64(double sigma) { return exp(-sigma); }

static int ml_check_grid(const ml_grid *g)
{
    return g->tile_size < 1 || g->tile_size > ML_MAX_TILE || g->channels < 1 ||
           g->channels > ML_MAX_CHANNELS || g->width < 1 || g->height < 1 ||
           g->tiles_x * g->tile_size < g->width || g->tiles_y * g->tile_size < g->height;
}

static inline int ml_clamp(double v, int64_t hi)
{
    return v < 0 ? 0 : (v > (double)hi ? (int)hi : (int)v);
}

/* gsplat's tile box of mean (u, v) (our pixels) and half-widths (rx, ry): tiles
 * [x0, x1) x [y0, y1), in double as the PyTorch binning; 0 when culled or empty. */
static inline int ml_tile_box(const ml_grid *g, double u, double v, int32_t rx, int32_t ry,
                              int *x0, int *x1, int *y0, int *y1)
{
    if (rx <= 0 || ry <= 0) return 0;
    const double s = (double)g->tile_size, mx = u + 0.5, my = v + 0.5;
    *x0 = ml_clamp(floor((mx - rx) / s), g->tiles_x);
    *x1 = ml_clamp(ceil((mx + rx) / s), g->tiles_x);
    *y0 = ml_clamp(floor((my - ry) / s), g->tiles_y);
    *y1 = ml_clamp(ceil((my + ry) / s), g->tiles_y);
    return *x1 > *x0 && *y1 > *y0;
}

/* Stable LSD radix sort of n keys (8 bits per pass): order[i] = the index of the i-th smallest
 * key, ties in index order (as torch.argsort(stable=True)). Keys are the order-preserving
 * unsigned images of the depths (see ml_sortable_*). Returns 0, or 3 when out of memory. */
#define ML_RADIX_SORT(KEY_T, BYTES)                                                          \
    do {                                                                                     \
        KEY_T *keys_b = malloc((size_t)(n > 0 ? n : 1) * sizeof(KEY_T));                     \
        int64_t *order_b = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));                \
        if (!keys_b || !order_b) {                                                           \
            free(keys_b);                                                                    \
            free(order_b);                                                                   \
            free(keys_a);                                                                    \
            return 3;                                                                        \
        }                                                                                    \
        int64_t *order_a = order;                                                            \
        for (int64_t i = 0; i < n; ++i) order_a[i] = i;                                      \
        for (int pass = 0; pass < (BYTES); ++pass) {                                         \
            const int shift = 8 * pass;                                                      \
            int64_t count[257] = {0};                                                        \
            for (int64_t i = 0; i < n; ++i) ++count[((keys_a[i] >> shift) & 255) + 1];       \
            if (count[((keys_a[0] >> shift) & 255) + 1] == n) continue; /* one bucket */     \
            for (int k = 0; k < 256; ++k) count[k + 1] += count[k];                          \
            for (int64_t i = 0; i < n; ++i) {                                                \
                const int64_t at = count[(keys_a[i] >> shift) & 255]++;                      \
                keys_b[at] = keys_a[i];                                                      \
                order_b[at] = order_a[i];                                                    \
            }                                                                                \
            KEY_T *tk = keys_a;                                                              \
            keys_a = keys_b;                                                                 \
            keys_b = tk;                                                                     \
            int64_t *to = order_a;                                                           \
            order_a = order_b;                                                               \
            order_b = to;                                                                    \
        }                                                                                    \
        if (order_a != order) memcpy(order, order_a, (size_t)n * sizeof(int64_t));           \
        free(order_a == order ? order_b : order_a);                                          \
        free(keys_a);                                                                        \
        free(keys_b);                                                                        \
        return 0;                                                                            \
    } while (0)

/* -0 and +0 are one key (they tie, as in torch.argsort) */
static inline uint32_t ml_sortable_f32(float v)
{
    uint32_t u;
    if (v == 0.0f) v = 0.0f;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline uint64_t ml_sortable_f64(double v)
{
    uint64_t u;
    if (v == 0.0) v = 0.0;
    memcpy(&u, &v, sizeof u);
    return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

/* argsort of one key type: order-preserving keys, then the radix sort */
#define ML_DEFINE_ARGSORT(SUFFIX, REAL_T, KEY_T, BYTES)                                      \
    int ml_argsort_##SUFFIX(int64_t n, const REAL_T *depths, int64_t *order)                \
    {                                                                                        \
        if (n <= 0) return 0;                                                                \
        KEY_T *keys_a = malloc((size_t)n * sizeof(KEY_T));                                   \
        if (!keys_a) return 3;                                                               \
        for (int64_t i = 0; i < n; ++i) keys_a[i] = ml_sortable_##SUFFIX(depths[i]);         \
        ML_RADIX_SORT(KEY_T, BYTES);                                                         \
    }

ML_DEFINE_ARGSORT(f32, float, uint32_t, 4)
ML_DEFINE_ARGSORT(f64, double, uint64_t, 8)

#define REAL float
#define FN(name) name##_f32
#define EXPNEG ml_expneg_f32
#define LOG logf
#define SQRT sqrtf
#define CEIL ceilf
#include "rasterize_impl.h"
#include "project_impl.h"
#undef REAL
#undef FN
#undef EXPNEG
#undef LOG
#undef SQRT
#undef CEIL

#define REAL double
#define FN(name) name##_f64
#define EXPNEG ml_expneg_f64
#define LOG log
#define SQRT sqrt
#define CEIL ceil
#include "rasterize_impl.h"
#include "project_impl.h"
#undef REAL
#undef FN
#undef EXPNEG
#undef LOG
#undef SQRT
#undef CEIL
