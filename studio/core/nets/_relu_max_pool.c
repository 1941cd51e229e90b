/* A ReLU after a 2 x 2 max-pool of stride 2, forward and backward, in one pass over memory each.

   Tensors are channels-last (N, H, W, C) and contiguous. PyTorch runs this pair as four passes (the pool with its
   int64 indices, the ReLU, the ReLU's backward, and the pool's backward into a zero-filled gradient); here the
   forward writes, besides the output, one byte per output value: which of the four inputs it came from (0 to 3,
   row-major), or 4 when the ReLU zeroed it. The backward writes every input gradient once from those bytes.
   Values and gradients equal PyTorch's to the bit: the first maximum wins a tie, NaN wins like in PyTorch.

   Built by setup.py as an optional library and called through ctypes (studio/core/nets/relu_max_pool.py), each call
   on a band of rows [first_row, end_row) so that threads can share a tensor. GCC compiles each function for
   AVX-512, AVX2 and plain x86-64 and picks one when the library loads; other compilers build it plainly. */

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STUDIO_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STUDIO_CLONES
#endif

#define ZEROED 4

static inline float bfloat16_value(uint16_t bits) {
    uint32_t wide = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &wide, sizeof value);
    return value;
}

static inline float float32_value(float value) { return value; }

/* Output rows [first_row, end_row) of the N * (H / 2) output rows. */
#define DEFINE_FORWARD(NAME, ELEMENT, VALUE)                                                                       \
    STUDIO_CLONES void NAME(const ELEMENT *input, ELEMENT *output, uint8_t *source, int64_t height, int64_t width,    \
                            int64_t channels, int64_t first_row, int64_t end_row) {                                   \
        const int64_t out_height = height / 2, out_width = width / 2, row_stride = width * channels;                 \
        for (int64_t row = first_row; row < end_row; row++) {                                                        \
            const ELEMENT *image = input + (row / out_height) * height * row_stride;                                 \
            const ELEMENT *top = image + 2 * (row % out_height) * row_stride;                                        \
            for (int64_t column = 0; column < out_width; column++) {                                                 \
                const ELEMENT *a = top + 2 * column * channels, *b = a + channels;                                   \
                const ELEMENT *c = a + row_stride, *d = c + channels;                                                \
                const int64_t at = (row * out_width + column) * channels;                                            \
                ELEMENT *out = output + at;                                                                          \
                uint8_t *from = source + at;                                                                         \
                for (int64_t k = 0; k < channels; k++) {                                                             \
                    float best = VALUE(a[k]), value;                                                                 \
                    ELEMENT chosen = a[k];                                                                           \
                    uint8_t which = 0;                                                                               \
                    value = VALUE(b[k]);                                                                             \
                    if (value > best || value != value) { best = value; chosen = b[k]; which = 1; }                  \
                    value = VALUE(c[k]);                                                                             \
                    if (value > best || value != value) { best = value; chosen = c[k]; which = 2; }                  \
                    value = VALUE(d[k]);                                                                             \
                    if (value > best || value != value) { best = value; chosen = d[k]; which = 3; }                  \
                    const int kept = !(best <= 0.0f);                                                                \
                    out[k] = kept ? chosen : 0;                                                                      \
                    from[k] = kept ? which : ZEROED;                                                                 \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
    }

/* Input rows [first_row, end_row) of the N * H input rows; a last odd row or column gets no gradient. */
#define DEFINE_BACKWARD(NAME, ELEMENT)                                                                             \
    STUDIO_CLONES void NAME(const ELEMENT *grad_output, const uint8_t *source, ELEMENT *grad_input, int64_t height,  \
                            int64_t width, int64_t channels, int64_t first_row, int64_t end_row) {                    \
        const int64_t out_height = height / 2, out_width = width / 2, row_stride = width * channels;                 \
        for (int64_t row = first_row; row < end_row; row++) {                                                        \
            ELEMENT *out = grad_input + row * row_stride;                                                            \
            const int64_t image = row / height, y = row % height;                                                    \
            if (y / 2 >= out_height) {                                                                               \
                memset(out, 0, row_stride * sizeof(ELEMENT));                                                        \
                continue;                                                                                            \
            }                                                                                                        \
            const int64_t out_row = image * out_height + y / 2;                                                      \
            for (int64_t x = 0; x < width; x++) {                                                                    \
                ELEMENT *o = out + x * channels;                                                                     \
                if (x / 2 >= out_width) {                                                                            \
                    memset(o, 0, channels * sizeof(ELEMENT));                                                        \
                    continue;                                                                                        \
                }                                                                                                    \
                const uint8_t which = (uint8_t)((y & 1) * 2 + (x & 1));                                              \
                const int64_t at = (out_row * out_width + x / 2) * channels;                                         \
                const ELEMENT *g = grad_output + at;                                                                 \
                const uint8_t *from = source + at;                                                                   \
                for (int64_t k = 0; k < channels; k++) o[k] = from[k] == which ? g[k] : 0;                           \
            }                                                                                                        \
        }                                                                                                            \
    }

DEFINE_FORWARD(relu_max_pool_forward_bfloat16, uint16_t, bfloat16_value)
DEFINE_FORWARD(relu_max_pool_forward_float32, float, float32_value)
DEFINE_BACKWARD(relu_max_pool_backward_bfloat16, uint16_t)
DEFINE_BACKWARD(relu_max_pool_backward_float32, float)
