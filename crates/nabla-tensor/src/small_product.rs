//! Small matrix products: handing gemm the layout its small-size paths are fastest on.
//!
//! Below about 64K multiply-adds (a tiny MLP's `[32, 16]·[16, 16]`, a few rows through a
//! narrow layer), a gemm call spends more time choosing a path and packing its operands than
//! multiplying, and how much more depends on the layouts it is handed. Measured on one core of
//! the benchmark machine (f32, AVX-512, ns per call; `A` is `[m, k]`, `B` is `[k, n]`, `C` is
//! `[m, n]`, R = row-major, C = column-major):
//!
//! | m × n × k | A B C = R R R | R C R | C R R | C R C |
//! |---|---:|---:|---:|---:|
//! | 32 × 16 × 2 | 135 | 320 | 136 | 107 |
//! | 32 × 16 × 16 | 310 | 428 | 311 | 295 |
//! | 16 × 2 × 32 | 477 | 94 | 472 | 149 |
//! | 8 × 8 × 32 | 323 | 145 | 329 | 329 |
//! | 16 × 8 × 32 | 402 | 252 | 406 | 210 |
//!
//! Three layouts are fast, each in its own range:
//!
//! ```text
//! at most 64 outputs               dot products: A row-major, B column-major (both contiguous in k)
//! n ≥ 16, n ≥ m, or k ≤ 2          C's rows as vectors: B row-major, C row-major
//! otherwise, up to 1024 outputs    C's columns as vectors: A column-major, C column-major
//! ```
//!
//! With `k ≤ 2` gemm takes a path of its own (a sum of one or two outer products) that wants
//! `B` row-major whatever the output's shape. [`small_product`] picks the range, copies an
//! operand that is in the other layout when it has at most [`COPY_LIMIT`] elements (else the
//! next range is tried, and last gemm gets the operands as they are), and for the last range
//! has gemm write a column-major scratch buffer that it then transposes into place; that range
//! was measured up to 512 outputs (`[256, 32]·[32, 2]`: 3.5 µs with a row-major output,
//! 0.7 µs through the scratch buffer) and is capped at [`COLUMN_OUTPUTS`], where the transpose
//! still costs little against the product. Products with one row or one column are left as
//! they are: gemm runs them as matrix–vector products, fast in any layout.

use crate::dtype::Element;
use crate::matmul::gemm_call;

/// Up to this many multiply-adds, `gemm_product` sends a product through [`small_product`].
pub(crate) const SMALL_GEMM: usize = 1 << 16;

/// Up to this many outputs, the dot-product layout is the fast one.
const DOT_OUTPUTS: usize = 64;

/// Up to this many outputs, the columns layout is used (through a scratch buffer).
const COLUMN_OUTPUTS: usize = 1024;

/// The width of gemm's vectors in f32 lanes: rows at least this long fill them.
const VECTOR: usize = 16;

/// Operands of up to this many elements are copied into the fast layout; larger ones are
/// handed to gemm as they are, since copying them costs more than it saves (a `[16, 16]`
/// transposed weight: 310 ns to copy, 120 ns saved).
const COPY_LIMIT: usize = 64;

/// A matrix operand: its first element and `[row stride, column stride]`, in elements.
pub(crate) type Operand<E> = (*const E, [isize; 2]);

/// `dst ← β·a·b`, or `dst ← α·dst + β·a·b` when `read_dst`, for `a` `[m, k]`, `b` `[k, n]`
/// and `dst` `[m, n]`, each with any strides, on this thread; see the [module docs](self).
///
/// # Safety
/// The three operands must hold every element their shapes and strides reach, and `dst` must
/// not overlap `a` or `b`.
pub(crate) unsafe fn small_product<E: Element>(
    [m, k, n]: [usize; 3],
    (dst, dst_strides): (*mut E, [isize; 2]),
    read_dst: bool,
    a: Operand<E>,
    b: Operand<E>,
    (alpha, beta): (E, E),
) {
    let product = |dst: (*mut E, [isize; 2]), read_dst, a: Operand<E>, b: Operand<E>| {
        gemm_call([m, k, n], dst, read_dst, a, b, (alpha, beta), gemm::Parallelism::None)
    };
    // A row or a column (gemm's matrix–vector paths), or an output that is not row-major (no
    // caller passes one): as it is.
    if m == 1 || n == 1 || dst_strides[1] != 1 {
        return product((dst, dst_strides), read_dst, a, b);
    }
    // The fast layouts for this shape, best first, and the first whose operands are in its
    // layout already or small enough to copy.
    let dot = m * n <= DOT_OUTPUTS;
    let rows = n >= VECTOR || n >= m || k <= 2;
    let ready = |operand, [r, c]: [usize; 2], layout| is_in(operand, layout) || r * c <= COPY_LIMIT;
    let plan = if dot && ready(a, [m, k], Layout::RowMajor) && ready(b, [k, n], Layout::ColumnMajor) {
        Plan::Dot
    } else if rows && ready(b, [k, n], Layout::RowMajor) {
        Plan::Rows
    } else if !rows && m * n <= COLUMN_OUTPUTS && ready(a, [m, k], Layout::ColumnMajor) {
        Plan::Columns
    } else {
        return product((dst, dst_strides), read_dst, a, b);
    };
    // Copies of operands given in the other layout; they must outlive the gemm call.
    let (mut a_copy, mut b_copy) = (None, None);
    match plan {
        Plan::Dot => {
            let a = in_layout(a, [m, k], Layout::RowMajor, &mut a_copy);
            let b = in_layout(b, [k, n], Layout::ColumnMajor, &mut b_copy);
            product((dst, dst_strides), read_dst, a, b)
        }
        Plan::Rows => {
            let b = in_layout(b, [k, n], Layout::RowMajor, &mut b_copy);
            product((dst, dst_strides), read_dst, a, b)
        }
        Plan::Columns => {
            // gemm writes β·a·b into a column-major scratch buffer, which is then transposed
            // into `dst` and, with `read_dst`, added to α·dst. Like gemm, α = 0 does not read
            // `dst` (a NaN there does not leak) and α = 1 does not multiply.
            let a = in_layout(a, [m, k], Layout::ColumnMajor, &mut a_copy);
            let mut columns: Vec<E> = Vec::with_capacity(m * n);
            product((columns.as_mut_ptr(), [1, m as isize]), false, a, b);
            // SAFETY: without `read_dst`, gemm writes every one of the m·n elements.
            columns.set_len(m * n);
            let [dst_rs, _] = dst_strides;
            for i in 0..m {
                let row = dst.offset(i as isize * dst_rs);
                for j in 0..n {
                    let value = columns[i + j * m];
                    *row.add(j) = match read_dst {
                        false => value,
                        true if alpha == E::zero() => value,
                        true if alpha == E::one() => *row.add(j) + value,
                        true => alpha * *row.add(j) + value,
                    };
                }
            }
        }
    }
}

/// The three fast layouts of the [module docs](self).
enum Plan {
    /// Dot products: `A` row-major, `B` column-major.
    Dot,
    /// The output's rows as gemm's vectors: `B` row-major.
    Rows,
    /// The output's columns as gemm's vectors: `A` column-major, the output column-major.
    Columns,
}

/// The order in which a copied operand's elements are stored.
#[derive(Clone, Copy)]
enum Layout {
    RowMajor,
    ColumnMajor,
}

/// True when `operand`'s rows (row-major) or columns (column-major) are contiguous.
fn is_in<E>((_, [rs, cs]): Operand<E>, layout: Layout) -> bool {
    match layout {
        Layout::RowMajor => cs == 1,
        Layout::ColumnMajor => rs == 1,
    }
}

/// `operand` (`[rows, cols]`) if it already is in `layout`, or else a copy of it in `layout`,
/// kept in `copy`.
///
/// # Safety
/// `operand` must hold every element its shape and strides reach.
unsafe fn in_layout<E: Element>(
    operand: Operand<E>,
    [rows, cols]: [usize; 2],
    layout: Layout,
    copy: &mut Option<Vec<E>>,
) -> Operand<E> {
    if is_in(operand, layout) {
        return operand;
    }
    let (src, [rs, cs]) = operand;
    let strides = match layout {
        Layout::RowMajor => [cols as isize, 1],
        Layout::ColumnMajor => [1, rows as isize],
    };
    let at = |i: usize, j: usize| *src.offset(i as isize * rs + j as isize * cs);
    let mut values = Vec::with_capacity(rows * cols);
    match layout {
        Layout::RowMajor => (0..rows).for_each(|i| (0..cols).for_each(|j| values.push(at(i, j)))),
        Layout::ColumnMajor => (0..cols).for_each(|j| (0..rows).for_each(|i| values.push(at(i, j)))),
    }
    (copy.insert(values).as_ptr(), strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `[rows, cols]` matrix of distinct values stored in `layout`, with `pad` unused
    /// elements after each stored row or column (so strides other than the dense ones are
    /// exercised too); returns the buffer, the strides and the values row by row.
    fn matrix(rows: usize, cols: usize, layout: Layout, pad: usize, seed: f64) -> (Vec<f64>, [isize; 2], Vec<f64>) {
        let value = |i: usize, j: usize| ((i * 31 + j * 17) as f64 * 0.37 + seed).sin();
        let (lines, line_len) = match layout {
            Layout::RowMajor => (rows, cols),
            Layout::ColumnMajor => (cols, rows),
        };
        let stride = line_len + pad;
        let mut buffer = vec![f64::NAN; lines * stride];
        for i in 0..rows {
            for j in 0..cols {
                let at = match layout {
                    Layout::RowMajor => i * stride + j,
                    Layout::ColumnMajor => j * stride + i,
                };
                buffer[at] = value(i, j);
            }
        }
        let strides = match layout {
            Layout::RowMajor => [stride as isize, 1],
            Layout::ColumnMajor => [1, stride as isize],
        };
        (buffer, strides, (0..rows).flat_map(|i| (0..cols).map(move |j| value(i, j))).collect())
    }

    #[test]
    fn every_range_and_layout_equals_the_triple_loop() {
        // Dot products (≤ 64 outputs), rows as vectors, columns as vectors, a row and a column
        // (passed through), and too many outputs for the columns' scratch buffer (passed
        // through), with k = 1, 2 and longer.
        let shapes = [
            [8, 32, 8],
            [2, 5, 16],
            [32, 2, 16],
            [32, 16, 16],
            [16, 32, 2],
            [40, 3, 5],
            [1, 7, 9],
            [9, 7, 1],
            [400, 16, 4],
        ];
        let layouts = [Layout::RowMajor, Layout::ColumnMajor];
        for [m, k, n] in shapes {
            for (la, lb, pad) in layouts.iter().flat_map(|&a| layouts.iter().flat_map(move |&b| [(a, b, 0), (a, b, 3)]))
            {
                let (a, a_strides, a_values) = matrix(m, k, la, pad, 0.1);
                let (b, b_strides, b_values) = matrix(k, n, lb, pad, 0.7);
                // Overwrite; accumulate with α = 1 and 0.5; and α = 0 over NaNs, which must not
                // be read.
                for (read_dst, alpha) in [(false, 0.0), (true, 1.0), (true, 0.5), (true, 0.0)] {
                    let old: Vec<f64> =
                        (0..m * n).map(|i| if alpha == 0.0 { f64::NAN } else { i as f64 * 0.01 - 0.3 }).collect();
                    let mut dst = old.clone();
                    let beta = 2.0;
                    // SAFETY: the buffers hold every element their shapes and strides reach.
                    unsafe {
                        small_product(
                            [m, k, n],
                            (dst.as_mut_ptr(), [n as isize, 1]),
                            read_dst,
                            (a.as_ptr(), a_strides),
                            (b.as_ptr(), b_strides),
                            (alpha, beta),
                        )
                    };
                    for i in 0..m {
                        for j in 0..n {
                            let dot: f64 = (0..k).map(|p| a_values[i * k + p] * b_values[p * n + j]).sum();
                            let expected = if alpha != 0.0 { alpha * old[i * n + j] + beta * dot } else { beta * dot };
                            let got = dst[i * n + j];
                            assert!(
                                (got - expected).abs() < 1e-12,
                                "[{m}, {k}]·[{k}, {n}], pad {pad}, read_dst {read_dst}, α {alpha}: [{i}, {j}] is {got}, \
                                 not {expected}"
                            );
                        }
                    }
                }
            }
        }
    }
}
