/* The tile rasteriser's kernels for one scalar type.
 *
 * Included twice by rasterize.c: with REAL = float (suffix _f32) and REAL = double (_f64).
 * The Python side (mouselift/splat/rasterize_native.py) documents every array.
 *
 * Per tile, entries front to back; per entry only the pixels inside its ellipse
 * sigma <= log(255 o) (+ a margin) are visited, row by row (ml_row_span): everything outside
 * has alpha < 1/255 and is skipped by the rules anyway. Each visited pixel then applies the same
 * rules, in the same order, as the PyTorch references (the exact test on alpha decides).
 */

/* sigma above this cannot give alpha >= 1/255: log(255 o), plus a margin for rounding (the
 * exact test on o * exp(-sigma) follows) */
static inline REAL FN(cutoff)(REAL o)
{
    return LOG(o * (REAL)255.0) + (REAL)1e-3;
}

/* Along a row of a tile (dy fixed), exp(-sigma) at successive columns by recurrence: with
 * dx = mean - column, sigma(dx - 1) - sigma(dx) = a (1 - 2 dx) / 2 - b dy =: delta, and delta
 * grows by a per column, so g <- g * exp(-delta), exp(-delta) <- exp(-delta) * exp(-a): two exp
 * per row instead of one per pixel (relative drift ~1e-7 per column in float, 1e-16 in double;
 * deltas stay small since the rows are clipped to the ellipse). */
typedef struct {
    REAL gauss, step, decay;
} FN(row_exp);

static inline FN(row_exp) FN(row_start)(REAL a, REAL b, REAL c, REAL decay, REAL dx, REAL dy)
{
    FN(row_exp) row;
    row.gauss = EXPNEG((REAL)0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy);
    row.step = EXPNEG((REAL)0.5 * a * ((REAL)1 - (REAL)2 * dx) - b * dy);
    row.decay = decay;
    return row;
}

static inline void FN(row_next)(FN(row_exp) *row)
{
    row->gauss *= row->step;
    row->step *= row->decay;
}

/* One list entry's splat: mean (mx, my), conic (a, b, c), opacity o, the cutoff of its alpha
 * ellipse, exp(-a) (the row recurrence's decay) and its colour */
typedef struct {
    REAL mx, my, a, b, c, o, cut, decay;
    const REAL *col;
} FN(splat);

static inline FN(splat) FN(load_splat)(int32_t e, const REAL *means2d, const REAL *conics,
                                       const REAL *opacities, const REAL *colors, int D)
{
    FN(splat) g;
    g.mx = means2d[2 * e];
    g.my = means2d[2 * e + 1];
    g.a = conics[3 * e];
    g.b = conics[3 * e + 1];
    g.c = conics[3 * e + 2];
    g.o = opacities[e];
    g.cut = FN(cutoff)(g.o);
    g.decay = EXPNEG(g.a);
    g.col = colors + (int64_t)e * D;
    return g;
}

/* Row r of a tile for a splat: whether the row holds pixels of its ellipse, their columns
 * [*q0, *q1) and the row's exp recurrence started at column q0; *dy = my - the row's v. */
static inline int FN(row_span)(const FN(splat) *sp, int x0, int y0, int cols, int r, int *q0,
                               int *q1, REAL *dy, FN(row_exp) *row)
{
    *dy = sp->my - (REAL)(y0 + r);
    if (!ml_col_range(sp->a, sp->b, sp->c, sp->cut, sp->mx - x0, *dy, cols, q0, q1)) return 0;
    *row = FN(row_start)(sp->a, sp->b, sp->c, sp->decay, sp->mx - (REAL)(x0 + *q0), *dy);
    return 1;
}

typedef struct {
    int64_t image;
    int x0, y0;   /* the tile's first pixel column and row */
    int cols, rows; /* its pixels inside the image */
} FN(tile_geometry);

static inline FN(tile_geometry) FN(tile_of)(const ml_grid *g, int64_t t)
{
    const int64_t per_image = g->tiles_x * g->tiles_y, local = t % per_image;
    FN(tile_geometry) tile;
    tile.image = t / per_image;
    tile.x0 = (int)(local % g->tiles_x * g->tile_size);
    tile.y0 = (int)(local / g->tiles_x * g->tile_size);
    tile.cols = (int)(g->width - tile.x0 < g->tile_size ? g->width - tile.x0 : g->tile_size);
    tile.rows = (int)(g->height - tile.y0 < g->tile_size ? g->height - tile.y0 : g->tile_size);
    return tile;
}

static ML_INLINE void FN(forward_tile)(const ml_grid *g, int64_t t, const int64_t *offsets,
                                       const int32_t *list, const REAL *means2d,
                                       const REAL *conics, const REAL *colors,
                                       const REAL *opacities, REAL *out_color, REAL *out_trans,
                                       int32_t *out_last)
{
    const int64_t start = offsets[t], end = offsets[t + 1];
    if (start == end) return; /* outputs are pre-filled with an empty image */
    const int s = (int)g->tile_size, D = (int)g->channels;
    const FN(tile_geometry) tile = FN(tile_of)(g, t);
    REAL trans[ML_MAX_PIXELS], acc[ML_MAX_PIXELS * ML_MAX_CHANNELS];
    int32_t last[ML_MAX_PIXELS];
    unsigned char live[ML_MAX_PIXELS];
    int row_live[ML_MAX_TILE], remaining = 0;
    for (int r = 0; r < s; ++r) {
        row_live[r] = r < tile.rows ? tile.cols : 0;
        remaining += row_live[r];
        for (int q = 0; q < s; ++q) {
            const int p = r * s + q;
            live[p] = r < tile.rows && q < tile.cols;
            trans[p] = 1;
            last[p] = 0;
        }
    }
    for (int k = 0; k < s * s * D; ++k) acc[k] = 0;
    for (int64_t i = start; i < end && remaining > 0; ++i) {
        const FN(splat) sp = FN(load_splat)(list[i], means2d, conics, opacities, colors, D);
        const REAL o = sp.o, *col = sp.col;
        int r0, r1;
        if (!ml_row_range(sp.a, sp.b, sp.c, sp.cut, sp.my - tile.y0, tile.rows, &r0, &r1))
            continue;
        for (int r = r0; r < r1; ++r) {
            int q0, q1;
            REAL dy;
            FN(row_exp) row;
            if (!row_live[r] || !FN(row_span)(&sp, tile.x0, tile.y0, tile.cols, r, &q0, &q1,
                                              &dy, &row))
                continue;
            for (int q = q0; q < q1; ++q, FN(row_next)(&row)) {
                const int p = r * s + q;
                if (!live[p]) continue;
                const REAL raw = row.gauss * o;
                if (raw < (REAL)ML_ALPHA_THRESHOLD) continue;
                const REAL alpha = raw < (REAL)ML_MAX_ALPHA ? raw : (REAL)ML_MAX_ALPHA;
                const REAL next = trans[p] * ((REAL)1 - alpha);
                if (next <= (REAL)ML_TRANSMITTANCE_THRESHOLD) { /* stop before this fragment */
                    live[p] = 0;
                    --row_live[r];
                    --remaining;
                    continue;
                }
                const REAL w = alpha * trans[p];
                for (int k = 0; k < D; ++k) acc[p * D + k] += w * col[k];
                trans[p] = next;
                last[p] = (int32_t)(i - start + 1);
            }
        }
    }
    for (int r = 0; r < tile.rows; ++r)
        for (int q = 0; q < tile.cols; ++q) {
            const int p = r * s + q;
            const int64_t pix = (tile.image * g->height + tile.y0 + r) * g->width + tile.x0 + q;
            out_trans[pix] = trans[p];
            out_last[pix] = last[p];
            for (int k = 0; k < D; ++k) out_color[pix * D + k] = acc[p * D + k];
        }
}

static ML_INLINE void FN(backward_tile)(const ml_grid *g, int64_t t, const int64_t *offsets,
                                        const int32_t *list, const REAL *means2d,
                                        const REAL *conics, const REAL *colors,
                                        const REAL *opacities, const REAL *grad_color,
                                        const REAL *grad_alpha, const REAL *out_color,
                                        const REAL *out_trans, const int32_t *out_last,
                                        REAL *v_means2d, REAL *v_conics, REAL *v_colors,
                                        REAL *v_opacities)
{
    const int64_t start = offsets[t], end = offsets[t + 1];
    if (start == end) return;
    const int s = (int)g->tile_size, D = (int)g->channels;
    const FN(tile_geometry) tile = FN(tile_of)(g, t);
    REAL trans[ML_MAX_PIXELS], prefix[ML_MAX_PIXELS], base[ML_MAX_PIXELS];
    REAL grad[ML_MAX_PIXELS * ML_MAX_CHANNELS];
    int32_t last[ML_MAX_PIXELS], row_last[ML_MAX_TILE];
    int32_t longest = 0;
    for (int r = 0; r < s; ++r) {
        row_last[r] = 0;
        for (int q = 0; q < s; ++q) {
            const int p = r * s + q;
            trans[p] = 1;
            prefix[p] = 0;
            base[p] = 0;
            last[p] = 0;
            for (int k = 0; k < D; ++k) grad[p * D + k] = 0;
            if (r >= tile.rows || q >= tile.cols) continue;
            const int64_t pix = (tile.image * g->height + tile.y0 + r) * g->width + tile.x0 + q;
            last[p] = out_last[pix];
            if (last[p] > row_last[r]) row_last[r] = last[p];
            /* dL/dalpha_i = (g.c_i) T_i + (g_A T_final - g.C + sum_{j<=i} (g.c_j) w_j)
             *               / (1 - alpha_i) */
            REAL dot = 0;
            for (int k = 0; k < D; ++k) {
                grad[p * D + k] = grad_color[pix * D + k];
                dot += grad_color[pix * D + k] * out_color[pix * D + k];
            }
            base[p] = grad_alpha[pix] * out_trans[pix] - dot;
        }
        if (row_last[r] > longest) longest = row_last[r];
    }
    for (int64_t i = start; i < start + longest && i < end; ++i) {
        const int32_t e = list[i], rank = (int32_t)(i - start);
        const FN(splat) sp = FN(load_splat)(e, means2d, conics, opacities, colors, D);
        const REAL mx = sp.mx, a = sp.a, b = sp.b, c = sp.c, o = sp.o, *col = sp.col;
        int r0, r1;
        if (!ml_row_range(a, b, c, sp.cut, sp.my - tile.y0, tile.rows, &r0, &r1)) continue;
        REAL s_mx = 0, s_my = 0, s_a = 0, s_b = 0, s_c = 0, s_o = 0;
        REAL s_col[ML_MAX_CHANNELS];
        for (int k = 0; k < D; ++k) s_col[k] = 0;
        int touched = 0;
        for (int r = r0; r < r1; ++r) {
            int q0, q1;
            REAL dy;
            FN(row_exp) row;
            if (rank >= row_last[r] || !FN(row_span)(&sp, tile.x0, tile.y0, tile.cols, r, &q0,
                                                     &q1, &dy, &row))
                continue;
            for (int q = q0; q < q1; ++q, FN(row_next)(&row)) {
                const int p = r * s + q;
                if (rank >= last[p]) continue;
                const REAL dx = mx - (REAL)(tile.x0 + q);
                const REAL gauss = row.gauss, raw = gauss * o;
                if (raw < (REAL)ML_ALPHA_THRESHOLD) continue;
                const REAL alpha = raw < (REAL)ML_MAX_ALPHA ? raw : (REAL)ML_MAX_ALPHA;
                touched = 1;
                const REAL before = trans[p], w = alpha * before;
                const REAL *gp = grad + p * D;
                REAL dot = 0;
                for (int k = 0; k < D; ++k) {
                    dot += col[k] * gp[k];
                    s_col[k] += w * gp[k];
                }
                prefix[p] += dot * w;
                if (raw <= (REAL)ML_MAX_ALPHA) { /* clamped alphas pass no gradient */
                    const REAL v_alpha = dot * before + (prefix[p] + base[p]) / ((REAL)1 - alpha);
                    const REAL du = v_alpha * gauss; /* dL/do = du, dL/dsigma = -o du */
                    const REAL ds = -o * du;
                    s_o += du;
                    s_mx += ds * (a * dx + b * dy);
                    s_my += ds * (c * dy + b * dx);
                    s_a += (REAL)0.5 * ds * dx * dx;
                    s_b += ds * dx * dy;
                    s_c += (REAL)0.5 * ds * dy * dy;
                }
                trans[p] = before * ((REAL)1 - alpha);
            }
        }
        if (!touched) continue;
        v_means2d[2 * e] += s_mx;
        v_means2d[2 * e + 1] += s_my;
        v_conics[3 * e] += s_a;
        v_conics[3 * e + 1] += s_b;
        v_conics[3 * e + 2] += s_c;
        v_opacities[e] += s_o;
        for (int k = 0; k < D; ++k) v_colors[(int64_t)e * D + k] += s_col[k];
    }
}

/* Tiles t = worker, worker + workers, ...: a fixed share per worker, so that the sum of the
 * workers' gradient buffers (in worker order) does not depend on timing. */
ML_CLONES int FN(ml_forward)(const ml_grid *g, int worker, int workers, const int64_t *offsets,
                             const int32_t *list, const REAL *means2d, const REAL *conics,
                             const REAL *colors, const REAL *opacities, REAL *out_color,
                             REAL *out_trans, int32_t *out_last)
{
    if (ml_check_grid(g) || workers < 1 || worker < 0 || worker >= workers) return 1;
    const int64_t tiles = g->images * g->tiles_x * g->tiles_y;
    for (int64_t t = worker; t < tiles; t += workers)
        FN(forward_tile)(g, t, offsets, list, means2d, conics, colors, opacities, out_color,
                         out_trans, out_last);
    return 0;
}

ML_CLONES int FN(ml_backward)(const ml_grid *g, int worker, int workers, const int64_t *offsets,
                              const int32_t *list, const REAL *means2d, const REAL *conics,
                              const REAL *colors, const REAL *opacities, const REAL *grad_color,
                              const REAL *grad_alpha, const REAL *out_color,
                              const REAL *out_trans, const int32_t *out_last, REAL *v_means2d,
                              REAL *v_conics, REAL *v_colors, REAL *v_opacities)
{
    if (ml_check_grid(g) || workers < 1 || worker < 0 || worker >= workers) return 1;
    const int64_t tiles = g->images * g->tiles_x * g->tiles_y;
    for (int64_t t = worker; t < tiles; t += workers)
        FN(backward_tile)(g, t, offsets, list, means2d, conics, colors, opacities, grad_color,
                          grad_alpha, out_color, out_trans, out_last, v_means2d, v_conics,
                          v_colors, v_opacities);
    return 0;
}

/* Bin entries into tiles: the count per tile (counts zeroed by the caller). Worker w handles
 * the entries of images w, w + workers, ... (their tiles are its own). */
int FN(ml_count)(const ml_grid *g, int worker, int workers, int64_t n, const REAL *means2d,
                 const int32_t *radii, const int64_t *image, int64_t *counts)
{
    if (ml_check_grid(g) || workers < 1 || worker < 0 || worker >= workers) return 1;
    const int64_t per_image = g->tiles_x * g->tiles_y;
    for (int64_t e = 0; e < n; ++e) {
        int bx0, bx1, by0, by1;
        if (image[e] < 0 || image[e] >= g->images) return 2;
        if (image[e] % workers != worker) continue;
        if (!ml_tile_box(g, (double)means2d[2 * e], (double)means2d[2 * e + 1], radii[2 * e],
                         radii[2 * e + 1], &bx0, &bx1, &by0, &by1))
            continue;
        int64_t *row = counts + image[e] * per_image;
        for (int y = by0; y < by1; ++y)
            for (int x = bx0; x < bx1; ++x) ++row[(int64_t)y * g->tiles_x + x];
    }
    return 0;
}

/* Fill each tile's list in the order of `order` (front to back): cursor = each tile's start
 * offset on entry (advanced in place). Workers as ml_count. */
int FN(ml_fill)(const ml_grid *g, int worker, int workers, int64_t n, const REAL *means2d,
                const int32_t *radii, const int64_t *image, const int64_t *order, int64_t *cursor,
                int32_t *list)
{
    if (ml_check_grid(g) || workers < 1 || worker < 0 || worker >= workers) return 1;
    const int64_t per_image = g->tiles_x * g->tiles_y;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t e = order[i];
        int bx0, bx1, by0, by1;
        if (e < 0 || e >= n || image[e] < 0 || image[e] >= g->images) return 2;
        if (image[e] % workers != worker) continue;
        if (!ml_tile_box(g, (double)means2d[2 * e], (double)means2d[2 * e + 1], radii[2 * e],
                         radii[2 * e + 1], &bx0, &bx1, &by0, &by1))
            continue;
        int64_t *row = cursor + image[e] * per_image;
        for (int y = by0; y < by1; ++y)
            for (int x = bx0; x < bx1; ++x) list[row[(int64_t)y * g->tiles_x + x]++] = (int32_t)e;
    }
    return 0;
}
