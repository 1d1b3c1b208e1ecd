;; The per-pixel loops of the serving path in WebAssembly SIMD (pixel-kernels.ts lays out the memory and calls them;
;; scripts/build-wasm.mjs compiles this file into src/gen at build time). They are plain loops that V8 does not
;; vectorise: here each step handles 16 samples, about ten times faster than the same integer arithmetic in
;; JavaScript. The arithmetic is Pillow's and numpy's to the bit (tested against Pillow's own outputs, a plain weighted
;; sum and the float32 formula).
;;
;; The kernels read and write whole vectors (16 bytes, 4 floats, a 4-byte pixel), so they run up to 15 bytes past a
;; row's end (60 past the floats' end); the caller leaves 64 bytes of slack after every region.
(module
  (memory (export "memory") 1)

  ;; Resampling along the vertical axis, Pillow's (Resample.c, ImagingResampleVertical_8bpc) and libvips' (reducev)
  ;; alike: output row y is the sum of input rows bounds[y].first … first + count − 1, each weighted by a fixed-point
  ;; weight with `shift` fraction bits (Pillow 22, libvips 12), plus one half, shifted down and clipped to 0…255.
  ;; `stride` is the bytes of one row (width × channels), shared by input and output; `bounds` holds [first, count] per
  ;; output row (i32 pairs), `weights` `kernelSize` i32 per output row.
  (func (export "resampleRows")
    (param $src i32) (param $stride i32) (param $dst i32) (param $outRows i32)
    (param $bounds i32) (param $weights i32) (param $kernelSize i32) (param $shift i32)
    (local $y i32) (local $x i32) (local $k i32) (local $count i32)
    (local $firstRow i32) (local $at i32) (local $weight i32)
    (local $bytes v128) (local $half v128) (local $w v128)
    ;; The sums of 16 samples, four i32 lanes each: |sum| < 2^31 for lanczos weights on bytes, as in Pillow's int.
    (local $rounding i32)
    (local $sum0 v128) (local $sum1 v128) (local $sum2 v128) (local $sum3 v128)
    ;; Both libraries start every sum at one half so that the shift rounds.
    (local.set $rounding (i32.shl (i32.const 1) (i32.sub (local.get $shift) (i32.const 1))))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $outRows)))
        (local.set $firstRow
          (i32.add (local.get $src) (i32.mul (i32.load (local.get $bounds)) (local.get $stride))))
        (local.set $count (i32.load offset=4 (local.get $bounds)))
        (local.set $x (i32.const 0))
        (block $samplesDone
          (loop $samples
            (br_if $samplesDone (i32.ge_u (local.get $x) (local.get $stride)))
            (local.set $sum0 (i32x4.splat (local.get $rounding)))
            (local.set $sum1 (local.get $sum0))
            (local.set $sum2 (local.get $sum0))
            (local.set $sum3 (local.get $sum0))
            (local.set $at (i32.add (local.get $firstRow) (local.get $x)))
            (local.set $weight (local.get $weights))
            (local.set $k (i32.const 0))
            (block $tapsDone
              (loop $taps
                (br_if $tapsDone (i32.ge_u (local.get $k) (local.get $count)))
                ;; 16 bytes of one input row, widened to four vectors of i32 and weighted.
                (local.set $bytes (v128.load align=1 (local.get $at)))
                (local.set $w (i32x4.splat (i32.load (local.get $weight))))
                (local.set $half (i16x8.extend_low_i8x16_u (local.get $bytes)))
                (local.set $sum0 (i32x4.add (local.get $sum0)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $half)) (local.get $w))))
                (local.set $sum1 (i32x4.add (local.get $sum1)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $half)) (local.get $w))))
                (local.set $half (i16x8.extend_high_i8x16_u (local.get $bytes)))
                (local.set $sum2 (i32x4.add (local.get $sum2)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $half)) (local.get $w))))
                (local.set $sum3 (i32x4.add (local.get $sum3)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $half)) (local.get $w))))
                (local.set $at (i32.add (local.get $at) (local.get $stride)))
                (local.set $weight (i32.add (local.get $weight) (i32.const 4)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $taps)))
            ;; Pillow's clip8 and libvips' VIPS_CLIP after the shift: the arithmetic shift and the two saturating
            ;; narrows (i32 → i16 signed, i16 → u8 unsigned) clip to 0…255.
            (v128.store align=1 (i32.add (local.get $dst) (local.get $x))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $sum0) (local.get $shift)) (i32x4.shr_s (local.get $sum1) (local.get $shift)))
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $sum2) (local.get $shift)) (i32x4.shr_s (local.get $sum3) (local.get $shift)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $samples)))
        ;; The last vector of a row ran into the next output row, which is written after it: no harm done.
        (local.set $dst (i32.add (local.get $dst) (local.get $stride)))
        (local.set $bounds (i32.add (local.get $bounds) (i32.const 8)))
        (local.set $weights (i32.add (local.get $weights) (i32.shl (local.get $kernelSize) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows))))

  ;; Pixels of `channels` bytes (1 to 4), `rows` × `cols` → `cols` × `rows`: the horizontal pass is resampleRows on the
  ;; transposed image, transposed back. Written in output order, four bytes at a time: the extra bytes of each store
  ;; land on the next output pixel, which is written right after it (and past the last, in the caller's slack).
  (func (export "transpose") (param $src i32) (param $rows i32) (param $cols i32) (param $channels i32) (param $dst i32)
    (local $x i32) (local $y i32) (local $at i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.mul (local.get $cols) (local.get $channels)))
    (block $colsDone
      (loop $cols
        (br_if $colsDone (i32.ge_u (local.get $x) (local.get $cols)))
        (local.set $at (i32.add (local.get $src) (i32.mul (local.get $x) (local.get $channels))))
        (local.set $y (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $rows)))
            (i32.store align=1 (local.get $dst) (i32.load align=1 (local.get $at)))
            (local.set $dst (i32.add (local.get $dst) (local.get $channels)))
            (local.set $at (i32.add (local.get $at) (local.get $rowBytes)))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $rows)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $cols))))

  ;; ModelHub's scaling of `count` bytes to float32 at `dst`: ((byte / 255) − 0.5) · 2, each step rounded to float32
  ;; as numpy does it on a float32 array (a float32 division, then exact subtraction and doubling).
  (func (export "scaleToFloats") (param $src i32) (param $count i32) (param $dst i32)
    (local $i i32) (local $bytes v128) (local $half v128)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $bytes (v128.load align=1 (i32.add (local.get $src) (local.get $i))))
        (local.set $half (i16x8.extend_low_i8x16_u (local.get $bytes)))
        (v128.store align=4 (local.get $dst) (call $scale (i32x4.extend_low_i16x8_u (local.get $half))))
        (v128.store offset=16 align=4 (local.get $dst) (call $scale (i32x4.extend_high_i16x8_u (local.get $half))))
        (local.set $half (i16x8.extend_high_i8x16_u (local.get $bytes)))
        (v128.store offset=32 align=4 (local.get $dst) (call $scale (i32x4.extend_low_i16x8_u (local.get $half))))
        (v128.store offset=48 align=4 (local.get $dst) (call $scale (i32x4.extend_high_i16x8_u (local.get $half))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $each))))

  (func $scale (param $bytes v128) (result v128)
    (f32x4.mul
      (f32x4.sub
        (f32x4.div (f32x4.convert_i32x4_s (local.get $bytes)) (v128.const f32x4 255 255 255 255))
        (v128.const f32x4 0.5 0.5 0.5 0.5))
      (v128.const f32x4 2 2 2 2)))

  ;; BGR → RGB in place: the first and third byte of each of `pixels` 3-byte pixels swap.
  (func (export "swapRedBlue") (param $at i32) (param $pixels i32)
    (local $end i32) (local $blue i32)
    (local.set $end (i32.add (local.get $at) (i32.mul (local.get $pixels) (i32.const 3))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $blue (i32.load8_u (local.get $at)))
        (i32.store8 (local.get $at) (i32.load8_u offset=2 (local.get $at)))
        (i32.store8 offset=2 (local.get $at) (local.get $blue))
        (local.set $at (i32.add (local.get $at) (i32.const 3)))
        (br $each))))
)
