#!/usr/bin/env python3
"""Writes the Keras HDF5 fixtures in test/fixtures/keras-h5/ with h5py and real Keras.

The network is the tiny Xception of test/support/hdf5-writer.ts (tinyXception(5)): Xception's layer names, two
unnamed residual conv/BN pairs, a separable convolution, a classifier; a few hundred weights, so each file is a few
KB. Every weight value comes from fixture_value() below (test/server/model/weights/h5py.test.ts computes the same),
so a test can check the loader read each tensor into the right place, not only its shape.

Two kinds of file:
  - keras3-*: written by Keras 3 itself (model.save to .h5, and its legacy weights-only writer);
  - keras2-*, tf.keras-*: Keras 2.x is not installable here, so these are written with h5py as Keras 2.x's saving
    code wrote them on h5py 2.x (keras/engine/saving.py of Keras 2.0-2.2, tensorflow/python/keras/saving/
    hdf5_format.py of tf.keras): fixed-length byte-string `layer_names`/`weight_names`, `backend` and
    `keras_version` attributes, weight names with ':0', a /model_weights group and optimizer weights for
    model.save(). Keras 3 on h5py 3 writes the same lists as variable-length strings.

Run once, commit the output:
  python3 -m venv /tmp/h5env && /tmp/h5env/bin/pip install keras jax h5py numpy
  /tmp/h5env/bin/python scripts/make-h5-fixtures.py
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "keras-h5")


def fnv1a32(text):
    h = 0x811C9DC5
    for byte in text.encode("utf8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def fixture_value(key, shape):
    """Distinct per tensor ('conv2d_1/kernel', keyed by the architecture's layer name) and exact in float32."""
    h = fnv1a32(key)
    size = int(np.prod(shape))
    values = [((h + 40503 * i) % 65536) / 4096 - 8 for i in range(size)]
    return np.asarray(values, dtype=np.float32).reshape(shape)


def tiny_xception(residual_names_start):
    """tinyXception(5) in Keras. Throwaway layers first make Keras number the unnamed ones from `residual_names_start`."""
    keras.backend.clear_session()
    for _ in range(residual_names_start):
        layers.Conv2D(1, 1)
        layers.BatchNormalization()
    # The architecture's names for the unnamed layers, in creation order (ArchitectureBuilder.residual).
    unnamed = []

    def residual(x, filters):
        conv = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)
        norm = layers.BatchNormalization()
        unnamed.append((conv, f"conv2d_{len(unnamed) // 2 + 1}"))
        unnamed.append((norm, f"batch_normalization_{len(unnamed) // 2 + 1}"))
        return norm(conv(x))

    inputs = keras.Input((9, 9, 3), name="input_1")
    x = layers.Conv2D(4, 3, strides=2, padding="valid", use_bias=False, name="block1_conv1")(inputs)
    x = layers.BatchNormalization(name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    res = residual(x, 6)
    x = layers.SeparableConv2D(6, 3, padding="same", use_bias=False, name="block2_sepconv1")(x)
    x = layers.BatchNormalization(name="block2_sepconv1_bn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block2_pool")(x)
    x = layers.add([x, res], name="add_1")
    res = residual(x, 8)
    x = layers.Activation("relu", name="block3_sepconv1_act")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", use_bias=False, name="block3_sepconv1")(x)
    x = layers.BatchNormalization(name="block3_sepconv1_bn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block3_pool")(x)
    x = layers.add([x, res], name="add_2")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="xception")

    arch_name = {id(layer): name for layer, name in unnamed}
    for layer in model.layers:
        if layer.weights:
            key = arch_name.get(id(layer), layer.name)
            layer.set_weights([fixture_value(f"{key}/{w.name}", w.shape) for w in layer.weights])
    return model


def keras2_layers(model, scope_suffix=""):
    """(layer name, [(Keras 2 weight name, value)]) in model order; TF variable names end in ':0'. Named layers built
    in a session that already had them get a uniquified variable scope ('block1_conv1_1/kernel:0')."""
    out = []
    for layer in model.layers:
        weights = layer.trainable_weights + layer.non_trainable_weights
        named = not layer.name.startswith(("conv2d", "batch_normalization"))
        scope = layer.name + (scope_suffix if named else "")
        out.append((layer.name, [(f"{scope}/{w.name}:0", keras.ops.convert_to_numpy(w)) for w in weights]))
    return out


def h5py2(value):
    """What h5py 2.x, which Keras 2.x ran on, stored for a Python value: numpy's fixed-length byte strings ('S'), and an
    empty float64 array for an empty list. (h5py 3 stores lists of bytes as variable-length strings.)"""
    return np.bytes_(value) if isinstance(value, bytes) else np.asarray(value)


def save_attributes(group, name, data):
    """Keras 2.2+ save_attributes_to_hdf5_group: one attribute, split in name0, name1, ... past 64512 bytes."""
    limit = 64512
    array = h5py2(data)
    chunks = 1
    split = np.array_split(array, chunks)
    while any(c.nbytes > limit for c in split):
        chunks += 1
        split = np.array_split(array, chunks)
    if chunks > 1:
        for i, chunk in enumerate(split):
            group.attrs[f"{name}{i}"] = chunk
    else:
        group.attrs[name] = array


def keras2_save_weights(group, layer_list, keras_version, sort_groups):
    """Keras 2.x save_weights_to_hdf5_group; tf.keras creates the layer groups in sorted order."""
    save_attributes(group, "layer_names", [name.encode("utf8") for name, _ in layer_list])
    group.attrs["backend"] = h5py2(b"tensorflow")
    group.attrs["keras_version"] = h5py2(keras_version.encode("utf8"))
    for name, weights in sorted(layer_list) if sort_groups else layer_list:
        g = group.create_group(name)
        names = [weight_name.encode("utf8") for weight_name, _ in weights]
        save_attributes(g, "weight_names", names)
        for weight_name, value in zip(names, (v for _, v in weights)):
            # h5py creates the intermediate group of 'block1_conv1/kernel:0', as with Keras.
            g.create_dataset(weight_name, value.shape, dtype=value.dtype)[:] = value


def keras2_model_config(model):
    return json.dumps({"class_name": "Model", "config": {"name": model.name, "layers": [l.name for l in model.layers]}})


def write_keras2_official(path):
    """Like Keras' published xception_weights_tf_dim_ordering_tf_kernels.h5: Keras 2.0 model.save_weights()."""
    model = tiny_xception(residual_names_start=1)
    with h5py.File(path, "w") as f:
        keras2_save_weights(f, keras2_layers(model), "2.0.8", sort_groups=False)


def write_keras22_model_save(path):
    """Keras 2.2.4 model.save() in a session that had built a model before: conv2d_4.., block1_conv1_1/kernel:0."""
    model = tiny_xception(residual_names_start=4)
    layer_list = keras2_layers(model, scope_suffix="_1")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = h5py2(b"2.2.4")
        f.attrs["backend"] = h5py2(b"tensorflow")
        f.attrs["model_config"] = h5py2(keras2_model_config(model).encode("utf8"))
        keras2_save_weights(f.create_group("model_weights"), layer_list, "2.2.4", sort_groups=False)
        training_config = {"optimizer_config": {"class_name": "SGD"}, "loss": "categorical_crossentropy"}
        f.attrs["training_config"] = h5py2(json.dumps(training_config).encode("utf8"))
        optimizer = f.create_group("optimizer_weights")
        slots = [(f"training/SGD/Variable_{i}:0", value) for i, (_, value) in enumerate(w for _, ws in layer_list for w in ws)]
        optimizer.attrs["weight_names"] = h5py2([name.encode("utf8") for name, _ in slots])
        for name, value in slots:
            optimizer.create_dataset(name.encode("utf8"), value.shape, dtype=value.dtype)[:] = np.zeros_like(value)


def write_tf_keras_weights(path):
    """tf.keras (TF 2.x, Keras 2.4) model.save_weights('....h5'): conv2d, conv2d_1, ..."""
    model = tiny_xception(residual_names_start=0)
    with h5py.File(path, "w") as f:
        keras2_save_weights(f, keras2_layers(model), "2.4.0", sort_groups=True)


def write_keras3_model_save(path):
    """Keras 3 model.save('....h5') (its legacy HDF5 format), with optimizer weights; conv2d, conv2d_1, ..."""
    model = tiny_xception(residual_names_start=0)
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.save(path)


def write_keras3_legacy_weights(path):
    """Keras 3's legacy weights-only writer (what tf_keras' save_weights('....h5') became); conv2d_4.."""
    model = tiny_xception(residual_names_start=4)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def main():
    os.makedirs(OUT, exist_ok=True)
    writers = {
        "keras2-official-weights.h5": write_keras2_official,
        "keras2.2-model-save.h5": write_keras22_model_save,
        "tf.keras-weights.h5": write_tf_keras_weights,
        "keras3-model-save.h5": write_keras3_model_save,
        "keras3-legacy-weights.h5": write_keras3_legacy_weights,
    }
    for name, write in writers.items():
        path = os.path.join(OUT, name)
        write(path)
        print(f"{path}: {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
