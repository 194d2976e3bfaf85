/* EWA projection of 3D Gaussians into C cameras, forward and backward, for one scalar type.
 *
 * Included twice by rasterize.c (REAL = float, _f32; REAL = double, _f64). The same formulas, in
 * the same order, as mouselift/splat/projection.py (its docstring states every convention):
 * the skew sheared away, the Jacobian's x/z, y/z clamped to 1.3x the field of view (evaluated
 * with gsplat's pixel centres), eps2d added, the opacity-aware box, culling.
 *
 * Work is split by Gaussian (worker w takes n = w, w + workers, ...), each looping over the
 * cameras, so gradients summed over cameras need no locks and do not depend on timing.
 */

typedef struct {
    REAL rot[9];  /* shear @ R of w2c, row-major */
    REAL trans[3];
    REAL fx, fy, cx, cy;
    REAL lim_x_pos, lim_x_neg, lim_y_pos, lim_y_neg;
} FN(camera);

static void FN(setup_camera)(const ml_view *view, const REAL *K, const REAL *w2c,
                             FN(camera) *cam)
{
    const REAL fx = K[0], skew = K[1], cx = K[2], fy = K[4], cy = K[5];
    const REAL sh = skew / fx; /* x' = x + (s / fx) y */
    for (int j = 0; j < 3; ++j) {
        cam->rot[j] = w2c[j] + sh * w2c[4 + j];
        cam->rot[3 + j] = w2c[4 + j];
        cam->rot[6 + j] = w2c[8 + j];
    }
    cam->trans[0] = w2c[3] + sh * w2c[7];
    cam->trans[1] = w2c[7];
    cam->trans[2] = w2c[11];
    cam->fx = fx;
    cam->fy = fy;
    cam->cx = cx;
    cam->cy = cy;
    const REAL w = (REAL)view->width, h = (REAL)view->height;
    const REAL tan_x = (REAL)0.5 * w / fx, tan_y = (REAL)0.5 * h / fy;
    cam->lim_x_pos = (w - (cx + (REAL)0.5)) / fx + (REAL)0.3 * tan_x;
    cam->lim_x_neg = (cx + (REAL)0.5) / fx + (REAL)0.3 * tan_x;
    cam->lim_y_pos = (h - (cy + (REAL)0.5)) / fy + (REAL)0.3 * tan_y;
    cam->lim_y_neg = (cy + (REAL)0.5) / fy + (REAL)0.3 * tan_y;
}

/* Every camera of a call (1 when the arguments are invalid). */
static int FN(setup_cameras)(const ml_view *view, int worker, int workers, const REAL *Ks,
                             const REAL *w2cs, FN(camera) *cams)
{
    if (view->cameras < 1 || view->cameras > ML_MAX_CAMERAS || workers < 1 || worker < 0 ||
        worker >= workers)
        return 1;
    for (int64_t c = 0; c < view->cameras; ++c)
        FN(setup_camera)(view, Ks + 9 * c, w2cs + 16 * c, &cams[c]);
    return 0;
}

/* camera-frame mean, covariance, Jacobian and 2D covariance of one Gaussian */
typedef struct {
    REAL x, y, z, rz;
    REAL tx, ty;
    int clamped_x, clamped_y;
    REAL jac[6];  /* row-major 2x3 */
    REAL map[6];  /* M = J R (2x3): cov2d = M cov M^T + eps2d I, i.e. J (R cov R^T) J^T */
    REAL mcov[6]; /* M cov */
    REAL cov2d[4];
    REAL depth; /* camera-frame z before culling */
    int in_depth;
} FN(projected);

static inline void FN(project_one)(const ml_view *view, const FN(camera) *cam, const REAL *m,
                                   const REAL *cov, FN(projected) *out)
{
    const REAL *R = cam->rot;
    REAL mc[3];
    for (int i = 0; i < 3; ++i)
        mc[i] = m[0] * R[3 * i] + m[1] * R[3 * i + 1] + m[2] * R[3 * i + 2] + cam->trans[i];
    out->x = mc[0];
    out->y = mc[1];
    out->depth = mc[2];
    out->in_depth = mc[2] >= (REAL)view->near_plane && mc[2] <= (REAL)view->far_plane;
    const REAL z = out->in_depth ? mc[2] : (REAL)1;
    out->z = z;
    const REAL rz = (REAL)1 / z;
    out->rz = rz;
    REAL ux = out->x * rz, uy = out->y * rz;
    out->clamped_x = !(ux <= cam->lim_x_pos && ux >= -cam->lim_x_neg);
    out->clamped_y = !(uy <= cam->lim_y_pos && uy >= -cam->lim_y_neg);
    ux = ux < cam->lim_x_pos ? ux : cam->lim_x_pos;
    ux = ux > -cam->lim_x_neg ? ux : -cam->lim_x_neg;
    uy = uy < cam->lim_y_pos ? uy : cam->lim_y_pos;
    uy = uy > -cam->lim_y_neg ? uy : -cam->lim_y_neg;
    out->tx = z * ux;
    out->ty = z * uy;
    REAL *J = out->jac, *M = out->map, *MC = out->mcov;
    J[0] = cam->fx * rz;
    J[1] = 0;
    J[2] = -cam->fx * out->tx * rz * rz;
    J[3] = 0;
    J[4] = cam->fy * rz;
    J[5] = -cam->fy * out->ty * rz * rz;
    for (int j = 0; j < 3; ++j) {
        M[j] = J[0] * R[j] + J[2] * R[6 + j];
        M[3 + j] = J[4] * R[3 + j] + J[5] * R[6 + j];
    }
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            MC[3 * i + j] = M[3 * i] * cov[j] + M[3 * i + 1] * cov[3 + j] + M[3 * i + 2] * cov[6 + j];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            out->cov2d[2 * i + j] =
                MC[3 * i] * M[3 * j] + MC[3 * i + 1] * M[3 * j + 1] + MC[3 * i + 2] * M[3 * j + 2];
    out->cov2d[0] += (REAL)view->eps2d;
    out->cov2d[3] += (REAL)view->eps2d;
}

int FN(ml_project)(const ml_view *view, int worker, int workers, int64_t n, const REAL *means,
                   const REAL *covs, const REAL *opacities, const REAL *Ks, const REAL *w2cs,
                   REAL *means2d, REAL *conics, REAL *depths, int32_t *radii,
                   unsigned char *visible)
{
    FN(camera) cams[ML_MAX_CAMERAS];
    if (FN(setup_cameras)(view, worker, workers, Ks, w2cs, cams)) return 1;
    const REAL thr = (REAL)ML_ALPHA_THRESHOLD, width = (REAL)view->width;
    const REAL height = (REAL)view->height;
    for (int64_t g = worker; g < n; g += workers) {
        REAL extend = (REAL)3.33;
        if (opacities) {
            const REAL o = opacities[g];
            const REAL ratio = o / thr > (REAL)1 ? o / thr : (REAL)1;
            extend = SQRT((REAL)2 * LOG(ratio));
            extend = extend < (REAL)3.33 ? extend : (REAL)3.33;
            if (!(o >= thr)) extend = 0;
        }
        for (int64_t c = 0; c < view->cameras; ++c) {
            const int64_t k = c * n + g;
            const FN(camera) *cam = &cams[c];
            FN(projected) pr;
            FN(project_one)(view, cam, means + 3 * g, covs + 9 * g, &pr);
            const REAL u = cam->fx * pr.x * pr.rz + cam->cx, v = cam->fy * pr.y * pr.rz + cam->cy;
            const REAL a = pr.cov2d[0], b = (REAL)0.5 * (pr.cov2d[1] + pr.cov2d[2]);
            const REAL cc = pr.cov2d[3];
            REAL det = a * cc - b * b;
            const int det_ok = det > 0;
            if (!det_ok) det = 1;
            means2d[2 * k] = u;
            means2d[2 * k + 1] = v;
            conics[3 * k] = cc / det;
            conics[3 * k + 1] = -b / det;
            conics[3 * k + 2] = a / det;
            depths[k] = pr.depth;
            const REAL rx = CEIL(extend * SQRT(a > 0 ? a : (REAL)0));
            const REAL ry = CEIL(extend * SQRT(cc > 0 ? cc : (REAL)0));
            const REAL ug = u + (REAL)0.5, vg = v + (REAL)0.5;
            const int inside = (ug + rx > 0) & (ug - rx < width) & (vg + ry > 0) & (vg - ry < height);
            const int vis = pr.in_depth & det_ok & inside & (rx > 0) & (ry > 0);
            visible[k] = (unsigned char)vis;
            radii[2 * k] = vis ? (int32_t)rx : 0;
            radii[2 * k + 1] = vis ? (int32_t)ry : 0;
        }
    }
    return 0;
}

/* Gradients of the visible entries' means2d (C, n, 2), conics (C, n, 3) and depths (C, n) to the
 * means (n, 3) and covariances (n, 3, 3), summed over cameras (written, not accumulated). */
int FN(ml_project_backward)(const ml_view *view, int worker, int workers, int64_t n,
                            const REAL *means, const REAL *covs, const REAL *Ks,
                            const REAL *w2cs, const unsigned char *visible,
                            const REAL *v_means2d, const REAL *v_conics, const REAL *v_depths,
                            REAL *v_means, REAL *v_covs)
{
    FN(camera) cams[ML_MAX_CAMERAS];
    if (FN(setup_cameras)(view, worker, workers, Ks, w2cs, cams)) return 1;
    for (int64_t g = worker; g < n; g += workers) {
        REAL gm[3] = {0, 0, 0}, gcov[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t c = 0; c < view->cameras; ++c) {
            const int64_t k = c * n + g;
            if (!visible[k]) continue;
            const FN(camera) *cam = &cams[c];
            FN(projected) pr;
            FN(project_one)(view, cam, means + 3 * g, covs + 9 * g, &pr);
            const REAL p = pr.cov2d[0], q = (REAL)0.5 * (pr.cov2d[1] + pr.cov2d[2]);
            const REAL r = pr.cov2d[3];
            const REAL det = p * r - q * q, id = (REAL)1 / det, id2 = id * id;
            const REAL ga = v_conics[3 * k], gb = v_conics[3 * k + 1], gc = v_conics[3 * k + 2];
            /* conic = (r, -q, p) / det */
            const REAL vp = -ga * r * r * id2 + gb * q * r * id2 + gc * (id - p * r * id2);
            const REAL vq = ga * 2 * q * r * id2 + gb * (-id - 2 * q * q * id2) + gc * 2 * p * q * id2;
            const REAL vr = ga * (id - p * r * id2) + gb * q * p * id2 - gc * p * p * id2;
            const REAL G[4] = {vp, (REAL)0.5 * vq, (REAL)0.5 * vq, vr};
            /* cov2d = M cov M^T, M = J R: dcov = M^T G M, dM = 2 G M cov, dJ = dM R^T */
            const REAL *M = pr.map, *MC = pr.mcov, *R = cam->rot;
            REAL dM[6], gm2[6];
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 3; ++j) {
                    dM[3 * i + j] = 2 * (G[2 * i] * MC[j] + G[2 * i + 1] * MC[3 + j]);
                    gm2[3 * i + j] = G[2 * i] * M[j] + G[2 * i + 1] * M[3 + j]; /* G M */
                }
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j) gcov[3 * i + j] += M[i] * gm2[j] + M[3 + i] * gm2[3 + j];
            REAL dJ[6];
            dJ[0] = dM[0] * R[0] + dM[1] * R[1] + dM[2] * R[2];
            dJ[1] = 0;
            dJ[2] = dM[0] * R[6] + dM[1] * R[7] + dM[2] * R[8];
            dJ[3] = 0;
            dJ[4] = dM[3] * R[3] + dM[4] * R[4] + dM[5] * R[5];
            dJ[5] = dM[3] * R[6] + dM[4] * R[7] + dM[5] * R[8];
            /* the Jacobian's dependence on the camera-frame mean (tx = z clamp(x / z)) */
            const REAL fx = cam->fx, fy = cam->fy, rz = pr.rz, rz2 = rz * rz, rz3 = rz2 * rz;
            const REAL dtx_dx = pr.clamped_x ? 0 : 1, dtx_dz = pr.clamped_x ? pr.tx * rz : 0;
            const REAL dty_dy = pr.clamped_y ? 0 : 1, dty_dz = pr.clamped_y ? pr.ty * rz : 0;
            REAL vx = dJ[2] * (-fx * rz2 * dtx_dx);
            REAL vy = dJ[5] * (-fy * rz2 * dty_dy);
            REAL vz = dJ[0] * (-fx * rz2) + dJ[4] * (-fy * rz2) +
                      dJ[2] * (-fx * (dtx_dz * rz2 - 2 * pr.tx * rz3)) +
                      dJ[5] * (-fy * (dty_dz * rz2 - 2 * pr.ty * rz3));
            /* means2d and depth */
            const REAL gu = v_means2d[2 * k], gv = v_means2d[2 * k + 1];
            vx += gu * fx * rz;
            vy += gv * fy * rz;
            vz += -gu * fx * pr.x * rz2 - gv * fy * pr.y * rz2 + v_depths[k];
            for (int j = 0; j < 3; ++j) gm[j] += R[j] * vx + R[3 + j] * vy + R[6 + j] * vz;
        }
        for (int j = 0; j < 3; ++j) v_means[3 * g + j] = gm[j];
        for (int j = 0; j < 9; ++j) v_covs[9 * g + j] = gcov[j];
    }
    return 0;
}
