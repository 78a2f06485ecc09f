//go:build !purego

#include "textflag.h"

// Constants of exp32 (kernels.go), eight lanes each.
#define C8(name, v) \
	DATA name<>+0(SB)/4, v; DATA name<>+4(SB)/4, v; DATA name<>+8(SB)/4, v; DATA name<>+12(SB)/4, v; \
	DATA name<>+16(SB)/4, v; DATA name<>+20(SB)/4, v; DATA name<>+24(SB)/4, v; DATA name<>+28(SB)/4, v; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

C8(expLoV, $0xc2aeac4f)     // -87.3365478515625
C8(expHiV, $0x42b0c0a5)     // 88.3762626647949
C8(log2eV, $0x3fb8aa3b)     // 1.44269504
C8(magicV, $0x4b400000)     // 1.5 * 2^23
C8(magic127V, $0x4b3fff81)  // bits(1.5 * 2^23) - 127
C8(ln2HiV, $0x3f318000)     // 0.693359375
C8(ln2LoV, $0xb95e8083)     // -2.12194440e-4
C8(p0V, $0x39506967)        // 1.9875691500e-4
C8(p1V, $0x3ab743ce)        // 1.3981999507e-3
C8(p2V, $0x3c088908)        // 8.3334519073e-3
C8(p3V, $0x3d2aa9c1)        // 4.1665795894e-2
C8(p4V, $0x3e2aaaaa)        // 1.6666665459e-1
C8(p5V, $0x3f000000)        // 5.0000001201e-1
C8(oneV, $0x3f800000)       // 1

// EXP8 replaces Y0 by e^Y0, lane by lane (exp32's algorithm); uses Y1-Y4.
#define EXP8 \
	VMAXPS expLoV<>(SB), Y0, Y0; \
	VMINPS expHiV<>(SB), Y0, Y0; \
	VMOVUPS log2eV<>(SB), Y1; \
	VFMADD213PS magicV<>(SB), Y0, Y1; \
	VSUBPS magicV<>(SB), Y1, Y2; \
	VFNMADD231PS ln2HiV<>(SB), Y2, Y0; \
	VFNMADD231PS ln2LoV<>(SB), Y2, Y0; \
	VMOVUPS p0V<>(SB), Y3; \
	VFMADD213PS p1V<>(SB), Y0, Y3; \
	VFMADD213PS p2V<>(SB), Y0, Y3; \
	VFMADD213PS p3V<>(SB), Y0, Y3; \
	VFMADD213PS p4V<>(SB), Y0, Y3; \
	VFMADD213PS p5V<>(SB), Y0, Y3; \
	VMULPS Y0, Y0, Y4; \
	VFMADD213PS Y0, Y4, Y3; \
	VADDPS oneV<>(SB), Y3, Y3; \
	VPSUBD magic127V<>(SB), Y1, Y1; \
	VPSLLD $23, Y1, Y1; \
	VMULPS Y1, Y3, Y0

// HSUM8 leaves the sum of Y13's lanes in X0.
#define HSUM8 \
	VEXTRACTF128 $1, Y13, X0; \
	VADDPS X0, X13, X0; \
	VMOVHLPS X0, X1, X1; \
	VADDPS X1, X0, X0; \
	VPSHUFD $1, X0, X1; \
	VADDSS X1, X0, X0

// func expAffineAVX2(dst, src *float32, n int, a, b float32) float32
// dst[i] = exp(a*src[i] + b) for i < n (n a multiple of 8); returns the sum.
TEXT ·expAffineAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y14
	VBROADCASTSS b+28(FP), Y15
	VXORPS Y13, Y13, Y13
	SHRQ $3, CX
	JZ edone

eloop:
	VMOVUPS (SI), Y0
	VFMADD213PS Y15, Y14, Y0 // a*src + b
	EXP8
	VMOVUPS Y0, (DI)
	VADDPS Y0, Y13, Y13
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ eloop

edone:
	HSUM8
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func softmaxAVX2(row *float32, n int)
// row[:n] = softmax(row[:n]) in place, n a positive multiple of 8.
TEXT ·softmaxAVX2(SB), NOSPLIT, $0-16
	MOVQ row+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	MOVQ DI, SI
	MOVQ CX, DX
	VMOVUPS (SI), Y15

smax:
	VMAXPS (SI), Y15, Y15
	ADDQ $32, SI
	DECQ DX
	JNZ smax
	VEXTRACTF128 $1, Y15, X0
	VMAXPS X0, X15, X0
	VMOVHLPS X0, X1, X1
	VMAXPS X1, X0, X0
	VPSHUFD $1, X0, X1
	VMAXSS X1, X0, X0
	VBROADCASTSS X0, Y15 // row max

	MOVQ DI, SI
	MOVQ CX, DX
	VXORPS Y13, Y13, Y13

sexp:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	EXP8
	VMOVUPS Y0, (SI)
	VADDPS Y0, Y13, Y13
	ADDQ $32, SI
	DECQ DX
	JNZ sexp

	HSUM8
	VMOVSS oneV<>(SB), X1
	VDIVSS X0, X1, X1
	VBROADCASTSS X1, Y14 // 1 / sum

sscale:
	VMULPS (DI), Y14, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNZ sscale
	VZEROUPPER
	RET

// func dotsAVX2(c, a *float32, as int, b *float32, bs, m, n, dh int, alpha float32)
// c[i*n+j] = alpha * sum_d a[i*as+d] * b[j*bs+d]; dh a positive multiple of 8,
// strides in elements.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-68
	MOVQ c+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ as+16(FP), R8
	SHLQ $2, R8
	MOVQ b+24(FP), R9
	MOVQ bs+32(FP), R10
	SHLQ $2, R10
	MOVQ m+40(FP), R11
	MOVQ dh+56(FP), R13
	SHRQ $3, R13
	VBROADCASTSS alpha+64(FP), X15

drow:
	MOVQ R9, BX         // b row j
	MOVQ n+48(FP), R12

dcol:
	VXORPS Y13, Y13, Y13
	MOVQ SI, AX
	MOVQ BX, DX
	MOVQ R13, CX

ddot:
	VMOVUPS (AX), Y0
	VFMADD231PS (DX), Y0, Y13
	ADDQ $32, AX
	ADDQ $32, DX
	DECQ CX
	JNZ ddot

	HSUM8
	VMULSS X15, X0, X0
	MOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ R10, BX
	DECQ R12
	JNZ dcol

	ADDQ R8, SI
	DECQ R11
	JNZ drow
	VZEROUPPER
	RET

// func axpysAVX2(c *float32, cs int, a *float32, ars, aks int, b *float32, bs, rows, k, dh int, alpha float32)
// c[r*cs+d] = alpha * sum_k a[r*ars+k*aks] * b[k*bs+d] for r < rows, d < dh;
// dh a positive multiple of 8, strides in elements.
TEXT ·axpysAVX2(SB), NOSPLIT, $0-84
	MOVQ c+0(FP), DI
	MOVQ cs+8(FP), R8
	SHLQ $2, R8
	MOVQ a+16(FP), SI
	MOVQ ars+24(FP), R9
	SHLQ $2, R9
	MOVQ aks+32(FP), R10
	SHLQ $2, R10
	MOVQ bs+48(FP), R11
	SHLQ $2, R11
	MOVQ rows+56(FP), R12
	VBROADCASTSS alpha+80(FP), Y15

arow:
	MOVQ b+40(FP), BX    // b chunk base: column d of b row 0
	MOVQ DI, R15         // c chunk
	MOVQ dh+72(FP), R13
	SHRQ $3, R13

achunk:
	VXORPS Y13, Y13, Y13
	MOVQ SI, AX          // a[r][0]
	MOVQ BX, DX          // b[0][d]
	MOVQ k+64(FP), CX

ak:
	VBROADCASTSS (AX), Y1
	VFMADD231PS (DX), Y1, Y13
	ADDQ R10, AX
	ADDQ R11, DX
	DECQ CX
	JNZ ak

	VMULPS Y15, Y13, Y13
	VMOVUPS Y13, (R15)
	ADDQ $32, BX
	ADDQ $32, R15
	DECQ R13
	JNZ achunk

	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R12
	JNZ arow
	VZEROUPPER
	RET
