"""Safe persistence (sklearn_deep.io): round trips of every estimator, hostile files."""

import io
import json
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

from sklearn_deep.io import ArchiveError, UntrustedTypesError, dump, get_untrusted_types, load
from sklearn_deep.utils import all_estimators

# the tiny fits below do not converge, on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# small, fast configurations; an estimator not listed here is fitted with its defaults (and
# random_state=0, max_epochs=2 where it has those parameters)
SMALL_PARAMS = {
    "CNNClassifier": dict(channels=(2,), dense_units=(4,)),
    "LSTMClassifier": dict(hidden_size=4, embedding_dim=4),
    "TransformerClassifier": dict(d_model=8, n_heads=2, num_layers=1, dim_feedforward=8),
    "KMeans": dict(n_clusters=3, n_init=1),
    "GaussianMixture": dict(n_components=2),
    "CausalLanguageModel": dict(
        embedding_dim=8, n_heads=2, num_layers=1, dim_feedforward=8, context_length=8
    ),
}
ESTIMATORS = dict(all_estimators())
DOCS = ["the cat sat on the mat", "a dog ran", "the dog sat", "cat and dog ran far"] * 4
OUTPUT_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score_samples",
)


def _small(cls, **extra):
    names = cls().get_params()
    params = {k: v for k, v in (("random_state", 0), ("max_epochs", 2)) if k in names}
    params.update(SMALL_PARAMS.get(cls.__name__, {}))
    params.update(extra)
    return cls(**params)


def _data(est):
    """Inputs (X, y or None) that ``est`` fits on, chosen from its tags."""
    tags = est.__sklearn_tags__().input_tags
    if tags.string:
        return DOCS, None
    rng = np.random.RandomState(0)
    if tags.categorical and tags.positive_only:  # token ids, padded at the end with 0
        X = rng.randint(1, 7, size=(24, 6))
        X[::3, 4:] = 0
        return X, None
    X = rng.normal(size=(24, 5))
    y = np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)] if is_classifier(est) else None
    return X, y


def _outputs(est, X, y=None):
    out = {}
    for name in OUTPUT_METHODS:
        if hasattr(est, name):
            out[name] = getattr(est, name)(X)
    if hasattr(est, "score"):
        out["score"] = est.score(X, y) if y is not None else est.score(X)
    return out


def _round_trip(est, path, **kwargs):
    dump(est, path)
    return load(path, **kwargs)


def _assert_same_outputs(a, b, X, y=None):
    out_a, out_b = _outputs(a, X, y), _outputs(b, X, y)
    assert out_a.keys() == out_b.keys() and out_a
    for name in out_a:
        assert np.array_equal(np.asarray(out_a[name]), np.asarray(out_b[name])), name


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_round_trip_fitted(name, tmp_path):
    est = _small(ESTIMATORS[name])
    X, y = _data(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the tiny fits
        est.fit(X, y)
    loaded = _round_trip(est, tmp_path / "model.skd")
    assert os.listdir(tmp_path) == ["model.skd"]  # nothing else written
    assert type(loaded) is type(est)
    assert loaded is not est
    check_is_fitted(loaded)
    _assert_same_outputs(est, loaded, X, y)
    if hasattr(est, "generate"):
        assert np.array_equal(
            est.generate(X[:3, :2], 4, random_state=0),
            loaded.generate(X[:3, :2], 4, random_state=0),
        )
    assert sorted(vars(loaded)) == sorted(vars(est))
    assert repr(loaded.get_params()) == repr(est.get_params())


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_round_trip_unfitted(name, tmp_path):
    est = _small(ESTIMATORS[name])
    loaded = _round_trip(est, tmp_path / "model.skd")
    assert repr(loaded.get_params()) == repr(est.get_params())
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)


def test_neural_round_trip_details(tmp_path):
    """Weights, history and optimizer state survive: training continues identically, the
    loaded net lives on the CPU and loading leaves the global torch RNG untouched."""
    import torch

    cls = ESTIMATORS["CNNClassifier"]
    X, y = _data(cls())
    est = _small(cls).fit(X, y)
    state = torch.get_rng_state()
    loaded = _round_trip(est, tmp_path / "cnn.skd")
    assert torch.equal(state, torch.get_rng_state())
    assert loaded.net_.module_ is loaded.module_
    assert list(loaded.history_) == list(est.history_)
    assert loaded.n_iter_ == est.n_iter_
    for p, q in zip(est.module_.state_dict().values(), loaded.module_.state_dict().values()):
        assert torch.equal(p, q)
    # a loaded estimator clones and refits like the original
    refit = clone(loaded).fit(X, y)
    assert np.array_equal(refit.predict_proba(X), clone(est).fit(X, y).predict_proba(X))
    # one more epoch of training from the saved optimizer state gives the same weights
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    assert np.array_equal(est.predict_proba(X), loaded.predict_proba(X))


def test_module_estimator_round_trip_and_warm_start(tmp_path):
    """An estimator with a torch module_ and an optimizer but no skorch net: weights and the
    Adam state survive, loading leaves the torch RNG untouched, and warm_start continues
    after loading exactly as it would have without the round trip."""
    import torch

    cls = ESTIMATORS["CausalLanguageModel"]
    est = _small(cls, warm_start=True)
    X, _ = _data(est)
    est.fit(X)
    state = torch.get_rng_state()
    loaded = _round_trip(est, tmp_path / "lm.skd")
    assert torch.equal(state, torch.get_rng_state())
    assert type(loaded.module_) is type(est.module_) and not loaded.module_.training
    for (k, p), (k2, q) in zip(
        est.module_.state_dict().items(), loaded.module_.state_dict().items()
    ):
        assert k == k2 and p.dtype == q.dtype and torch.equal(p, q)
    opt, opt2 = est._optimizer, loaded._optimizer
    assert type(opt2) is type(opt)
    assert [p for g in opt2.param_groups for p in g["params"]] == list(loaded.module_.parameters())
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["param_groups"] == sd2["param_groups"]
    assert sd["state"].keys() == sd2["state"].keys() and sd["state"]
    for i, entries in sd["state"].items():
        for name, value in entries.items():
            assert torch.equal(value, sd2["state"][i][name]), (i, name)
    # one more warm-started fit from the restored optimizer gives the same model
    est.fit(X)
    loaded.fit(X)
    assert loaded.n_iter_ == est.n_iter_ > 2
    assert loaded.loss_curve_ == est.loss_curve_
    assert np.array_equal(loaded.score_samples(X), est.score_samples(X))


def test_module_estimator_refuses_foreign_optimizer(tmp_path):
    import torch

    est = _small(ESTIMATORS["CausalLanguageModel"])
    X, _ = _data(est)
    est.fit(X)
    est._optimizer = torch.optim.Adam([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="not parameters of module_"):
        dump(est, tmp_path / "lm.skd")
    assert os.listdir(tmp_path) == []


def test_cuda_trained_model_loads_on_cpu(tmp_path, monkeypatch):
    """A file whose net lived on 'cuda' loads on a machine without CUDA, on the CPU."""
    import torch

    cls = ESTIMATORS["LSTMClassifier"]
    X, y = _data(cls())
    est = _small(cls, optimizer="sgd", lr_schedule="step", early_stopping=True).fit(X, y)
    expected = est.predict_proba(X)
    est.set_params(device="cuda")
    est.net_.device = "cuda"  # what a CUDA fit records (the weights are saved on the CPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = _round_trip(est, tmp_path / "cuda.skd")
    assert loaded.device == "cuda"  # the hyper-parameter is kept
    assert str(loaded.net_.device) == "cpu"
    assert np.array_equal(loaded.predict_proba(X), expected)


def test_pipeline_text_to_sequence_lstm(tmp_path):
    from sklearn_deep.neural_network import LSTMClassifier
    from sklearn_deep.preprocessing import TextToSequence

    y = np.array(["pet", "wild"] * 8)
    pipe = make_pipeline(TextToSequence(), _small(LSTMClassifier, embedding_dim=3)).fit(DOCS, y)
    loaded = _round_trip(pipe, tmp_path / "pipe.skd")
    assert loaded.steps[0][1].vocabulary_ == pipe.steps[0][1].vocabulary_
    assert loaded.steps[0][1].index_to_token_.dtype == object
    _assert_same_outputs(pipe, loaded, DOCS[:-1] + ["an unseen zebra"], y)


def test_grid_search_round_trip(tmp_path):
    from sklearn_deep.cluster import KMeans

    X = np.random.RandomState(1).normal(size=(30, 3))
    search = GridSearchCV(
        KMeans(n_init=1, random_state=0),
        {"n_clusters": [2, 3], "init": ["k-means++", "random"]},
        cv=2,
    ).fit(X)
    loaded = _round_trip(search, tmp_path / "search.skd")
    _assert_same_outputs(search.best_estimator_, loaded.best_estimator_, X)
    _assert_same_outputs(search, loaded, X)
    assert loaded.best_params_ == search.best_params_
    assert loaded.cv_results_.keys() == search.cv_results_.keys()
    for key, value in search.cv_results_.items():
        other = loaded.cv_results_[key]
        assert type(other) is type(value), key
        if isinstance(value, np.ma.MaskedArray):
            assert np.array_equal(np.ma.getmaskarray(value), np.ma.getmaskarray(other))
            assert value.dtype == other.dtype
            assert list(value.data) == list(other.data)
        elif isinstance(value, np.ndarray):
            assert value.dtype == other.dtype and np.array_equal(value, other), key
        else:
            assert value == other, key
    # best_estimator_ alone
    best = _round_trip(search.best_estimator_, tmp_path / "best.skd")
    _assert_same_outputs(search.best_estimator_, best, X)


def test_grid_search_over_neural_estimator(tmp_path):
    cls = ESTIMATORS["LSTMClassifier"]
    X, y = _data(cls())
    search = GridSearchCV(_small(cls, max_epochs=1), {"hidden_size": [2, 3]}, cv=2).fit(X, y)
    loaded = _round_trip(search, tmp_path / "search.skd")
    assert loaded.best_params_ == search.best_params_
    _assert_same_outputs(search, loaded, X, y)
    best = _round_trip(search.best_estimator_, tmp_path / "best.skd")
    _assert_same_outputs(search.best_estimator_, best, X, y)


def test_version_mismatch_warns(model_file):
    def older(manifest):
        manifest["versions"]["sklearn"] = "0.0.1"

    with pytest.warns(UserWarning, match=r"sklearn 0\.0\.1"):
        load(_edit_manifest(model_file, older))


def test_dataframe_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn_deep.mixture import GaussianMixture

    X = pd.DataFrame(np.random.RandomState(0).normal(size=(20, 2)), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(X)
    loaded = _round_trip(gm, tmp_path / "gm.skd")
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == ["a", "b"]
    _assert_same_outputs(gm, loaded, X)


# ---------------------------------------------------------------------- what cannot be saved
def test_dump_refuses_code_and_leaves_nothing(tmp_path):
    from sklearn_deep.cluster import KMeans

    km = KMeans(n_clusters=2)
    km.note_ = lambda x: x
    with pytest.raises(ValueError, match=r"estimator\.note_.*lambda"):
        dump(km, tmp_path / "km.skd")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- hostile files
class _Payload:
    """Pickling this object yields a pickle that creates ``marker`` when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


class UserCallbackLike:
    """A type outside sklearn_deep and scikit-learn, held by an estimator."""

    def __init__(self, factor=2):
        self.factor = factor


@pytest.fixture
def model_file(tmp_path):
    from sklearn_deep.cluster import KMeans

    km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.arange(12.0).reshape(6, 2))
    path = tmp_path / "km.skd"
    dump(km, path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _rewrite(path, members, out=None):
    out = out or path.with_name("hostile.skd")
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            method = zipfile.ZIP_DEFLATED if name == "manifest.json" else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out


def _edit_manifest(path, edit):
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    return _rewrite(path, members)


def _live_payload(tmp_path):
    """The payload bytes, after checking that unpickling them really runs code."""
    probe = tmp_path / "probe_marker"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()
    marker = tmp_path / "marker"
    return marker, _Payload(marker)


def _first(members, prefix):
    return next(name for name in members if name.startswith(prefix))


@pytest.mark.parametrize("part", ["manifest", "npy", "npy_object_dtype", "safetensors"])
def test_pickle_payload_never_runs(part, tmp_path):
    import torch

    from sklearn_deep.neural_network import CNNClassifier

    marker, payload = _live_payload(tmp_path)
    X, y = _data(CNNClassifier())
    est = _small(CNNClassifier, max_epochs=1).fit(X, y)
    path = tmp_path / "cnn.skd"
    dump(est, path)
    members = _members(path)
    buf = io.BytesIO()
    if part == "manifest":
        members["manifest.json"] = pickle.dumps(payload)
    elif part in ("npy", "npy_object_dtype"):
        np.save(buf, np.array([payload, 1], dtype=object), allow_pickle=True)
        name = _first(members, "arrays/")
        members[name] = buf.getvalue()
        if part == "npy_object_dtype":  # the manifest agrees that it is an object array
            text = members["manifest.json"].decode()
            manifest = json.loads(text)
            for node in _walk(manifest["root"]):
                if node.get("file") == name:
                    node["dtype"], node["shape"] = "|O", [2]
            members["manifest.json"] = json.dumps(manifest).encode()
    else:
        torch.save({"module.x": payload}, buf)
        members[_first(members, "tensors/")] = buf.getvalue()
    hostile = _rewrite(path, members)
    with pytest.raises(ArchiveError):
        load(hostile)
    assert not marker.exists()


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.parametrize(
    "name", ["../escaped.txt", "/tmp/absolute.txt", "data.pkl", "arrays/0.npy/../../x"]
)
def test_unexpected_member_names_refused(name, model_file, tmp_path):
    members = _members(model_file)
    members[name] = b"x"
    hostile = _rewrite(model_file, members)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ArchiveError, match="unexpected member"):
        load(hostile)
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_oversized_npy_header_refused(model_file):
    members = _members(model_file)
    name = _first(members, "arrays/")
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'pad': '" + "x" * 20000 + "'}"
    header = header.encode("latin1") + b" " * (16 - (len(header) + 11) % 16) + b"\n"
    members[name] = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header
    with pytest.raises(ArchiveError, match="header"):
        load(_rewrite(model_file, members))


def test_huge_shape_claim_refused(model_file):
    """A header (and manifest) announcing 10**12 elements backed by a few bytes is refused
    before anything is allocated."""
    members = _members(model_file)
    name = _first(members, "arrays/")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    members[name] = buf.getvalue() + b"\x00" * 64
    manifest = json.loads(members["manifest.json"])
    for node in _walk(manifest["root"]):
        if node.get("file") == name:
            node["dtype"], node["shape"] = "<f8", [10**6, 10**6]
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        load(_rewrite(model_file, members))


def test_oversized_safetensors_header_refused(tmp_path):
    cls = ESTIMATORS["CNNClassifier"]
    X, y = _data(cls())
    path = tmp_path / "cnn.skd"
    dump(_small(cls, max_epochs=1).fit(X, y), path)
    members = _members(path)
    name = _first(members, "tensors/")
    members[name] = (2**40).to_bytes(8, "little") + members[name][8:]
    with pytest.raises(ArchiveError, match="not a valid safetensors file"):
        load(_rewrite(path, members))


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_file_refused(cut, model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        load(model_file)


def test_corrupted_member_refused(model_file):
    members = _members(model_file)
    name = _first(members, "arrays/")
    data = model_file.read_bytes()
    start = data.find(members[name])
    corrupted = bytearray(data)
    corrupted[start + len(members[name]) - 1] ^= 0xFF  # last byte of the array data
    model_file.write_bytes(bytes(corrupted))
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        load(model_file)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ArchiveError, match="not a sklearn-deep model file"):
        load(path)


def test_newer_format_version_refused(model_file):
    def newer(manifest):
        manifest["format_version"] += 1

    with pytest.raises(ArchiveError, match="Upgrade sklearn-deep"):
        load(_edit_manifest(model_file, newer))


def test_untrusted_type_refused_then_trusted(tmp_path):
    from sklearn_deep.cluster import KMeans

    km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.arange(12.0).reshape(6, 2))
    km.user_object_ = UserCallbackLike(3)
    path = tmp_path / "km.skd"
    dump(km, path)
    name = f"{UserCallbackLike.__module__}.UserCallbackLike"
    assert get_untrusted_types(path) == [name]
    with pytest.raises(UntrustedTypesError, match="UserCallbackLike") as info:
        load(path)
    assert info.value.types == [name]
    loaded = load(path, trusted=[name])
    assert isinstance(loaded.user_object_, UserCallbackLike)
    assert loaded.user_object_.factor == 3


@pytest.mark.parametrize(
    "node",
    [
        {"t": "function", "module": "os", "name": "system"},
        {"t": "object", "module": "subprocess", "name": "Popen", "params": [], "attrs": []},
        {"t": "class", "module": "builtins", "name": "eval"},
    ],
)
def test_untrusted_names_in_crafted_file(node, model_file, tmp_path):
    def inject(manifest):
        manifest["root"]["attrs"].append(["evil_", node])

    hostile = _edit_manifest(model_file, inject)
    with pytest.raises(UntrustedTypesError, match=node["name"]):
        load(hostile)


def test_trusted_prefix_alias_refused(model_file):
    """A name under a trusted package that is only a re-export of another module's object
    (``sklearn.base.copy`` is the ``copy`` module) is refused."""

    def inject(manifest):
        manifest["root"]["attrs"].append(
            ["evil_", {"t": "function", "module": "sklearn.base", "name": "copy.deepcopy"}]
        )

    with pytest.raises(ArchiveError, match="re-export"):
        load(_edit_manifest(model_file, inject))


@pytest.mark.parametrize(
    "node",
    [
        {"t": "no_such_tag"},
        {"t": "array", "file": "arrays/999.npy", "dtype": "<f8", "shape": [1]},
        {"t": "array", "file": "../../etc/passwd", "dtype": "<f8", "shape": [1]},
        {"t": "scalar", "dtype": "|O", "v": 1},
        {"t": "objarray", "shape": [3], "items": [1]},
        {"t": "float", "v": "1e999"},
        json.loads("[" * 60 + "]" * 60),
    ],
)
def test_malformed_nodes_refused(node, model_file):
    def inject(manifest):
        manifest["root"]["attrs"].append(["bad_", node])

    hostile = _edit_manifest(model_file, inject)
    if isinstance(node, list):  # legal but deep: must load, or fail cleanly
        load(hostile)
        return
    with pytest.raises(ArchiveError):
        load(hostile)


def test_deeply_nested_manifest_refused(model_file):
    members = _members(model_file)
    manifest = members["manifest.json"].decode()
    deep = "[" * 100_000 + "]" * 100_000
    members["manifest.json"] = manifest.replace(
        '"attrs":[', f'"attrs":[["deep_",{deep}],', 1
    ).encode()
    with pytest.raises(ArchiveError, match="nested too deeply|not valid JSON"):
        load(_rewrite(model_file, members))


# ---------------------------------------------------------------------- properties
def _assert_deep_equal(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray) and a.dtype == object:
        assert b.dtype == object and a.shape == b.shape
        for x, y in zip(a.ravel(), b.ravel()):
            _assert_deep_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_deep_equal(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_deep_equal(a[k], b[k])
    elif isinstance(a, (float, np.floating)) and a != a:
        assert b != b
    else:
        assert a == b


_arrays = hnp.arrays(
    dtype=st.sampled_from(["<f8", "<f4", "<i8", "<u2", "|b1", "<c16", "<U3", ">f8"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)


def _object_array(items):
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr


_object_arrays = st.lists(
    st.none() | st.text(max_size=3) | st.integers() | st.tuples(st.integers(), st.text(max_size=2)),
    max_size=4,
).map(_object_array)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.binary(max_size=4)
    | st.complex_numbers(allow_nan=False)
    | st.sampled_from(
        [
            np.float32(1.5),
            np.float16(-0.0),
            np.int16(-3),
            np.uint64(2**64 - 1),
            np.bool_(True),
            np.float64("nan"),
            np.complex64(1 - 2j),
            np.str_("é"),
            np.bytes_(b"\x00a"),
        ]
    )
    | _arrays
    | _object_arrays
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_values)
def test_property_plain_data_round_trip(value, tmp_path):
    from sklearn_deep.cluster import KMeans

    km = KMeans()
    km.value_ = value
    buf = io.BytesIO()
    dump(km, buf)
    buf.seek(0)
    _assert_deep_equal(load(buf).value_, value)


@settings(max_examples=25, deadline=None)
@given(
    n_clusters=st.integers(1, 4),
    init=st.sampled_from(["k-means++", "random"]),
    tol=st.floats(0, 1e-2),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(["full", "tied", "diag", "spherical"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_cluster_mixture_round_trip(
    n_clusters, init, tol, n_components, covariance_type, seed
):
    from sklearn_deep.cluster import KMeans
    from sklearn_deep.mixture import GaussianMixture

    X = np.random.RandomState(seed % 1000).normal(size=(12, 2))
    for est in (
        KMeans(n_clusters=n_clusters, init=init, tol=tol, n_init=1, random_state=seed),
        GaussianMixture(
            n_components, covariance_type=covariance_type, random_state=seed, max_iter=5
        ),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
        buf = io.BytesIO()
        dump(est, buf)
        buf.seek(0)
        loaded = load(buf)
        assert repr(loaded.get_params()) == repr(est.get_params())
        _assert_same_outputs(est, loaded, X)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["CNNClassifier", "LSTMClassifier", "TransformerClassifier"]),
    lr=st.floats(1e-5, 1.0),
    optimizer=st.sampled_from(["adam", "sgd", "rmsprop"]),
    batch_size=st.integers(1, 64) | st.just("auto"),
    random_state=st.none() | st.integers(0, 2**31 - 1),
    device=st.sampled_from(["cpu", "cuda"]),
    routed=st.dictionaries(
        st.sampled_from(["module__dropout", "optimizer__eps", "iterator_train__drop_last"]),
        st.floats(0, 0.5) | st.booleans(),
        max_size=2,
    ),
)
def test_property_neural_params_round_trip(
    name, lr, optimizer, batch_size, random_state, device, routed
):
    est = ESTIMATORS[name](
        lr=lr,
        optimizer=optimizer,
        batch_size=batch_size,
        random_state=random_state,
        device=device,
        **routed,
    )
    buf = io.BytesIO()
    dump(est, buf)
    buf.seek(0)
    loaded = load(buf)
    assert repr(loaded.get_params()) == repr(est.get_params())
    assert loaded.get_params().keys() == est.get_params().keys()


def test_sklearn_objects_and_ufuncs(tmp_path):
    """scikit-learn steps, NumPy ufuncs and splitter objects are trusted by default."""
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from sklearn_deep.cluster import KMeans

    X = np.abs(np.random.RandomState(0).normal(size=(20, 3)))
    pipe = make_pipeline(
        FunctionTransformer(np.log1p), StandardScaler(), KMeans(2, n_init=1, random_state=0)
    ).fit(X)
    pipe.splitter_ = KFold(3, shuffle=True, random_state=np.random.RandomState(2))
    loaded = _round_trip(pipe, tmp_path / "pipe.skd")
    assert loaded.steps[0][1].func is np.log1p
    assert get_untrusted_types(tmp_path / "pipe.skd") == []
    _assert_same_outputs(pipe, loaded, X)
    a, b = pipe.splitter_.random_state, loaded.splitter_.random_state
    assert np.array_equal(a.randint(1000, size=5), b.randint(1000, size=5))


def test_container_subclass_refused(tmp_path):
    from collections import OrderedDict

    from sklearn_deep.cluster import KMeans

    km = KMeans()
    km.table_ = OrderedDict(a=1)
    with pytest.raises(ValueError, match=r"estimator\.table_.*plain instance dict"):
        dump(km, tmp_path / "km.skd")


def test_custom_callback_needs_trust(tmp_path):
    skorch_callbacks = pytest.importorskip("skorch.callbacks")
    cls = ESTIMATORS["LSTMClassifier"]
    X, y = _data(cls())
    est = _small(cls, callbacks=[("mine", skorch_callbacks.EpochTimer())])
    est.fit(X, y)
    path = tmp_path / "lstm.skd"
    dump(est, path)
    untrusted = get_untrusted_types(path)
    assert untrusted == ["skorch.callbacks.logging.EpochTimer"]
    with pytest.raises(UntrustedTypesError, match="EpochTimer"):
        load(path)
    loaded = load(path, trusted=untrusted)
    _assert_same_outputs(est, loaded, X, y)


def test_weights_that_do_not_fit_refused(tmp_path):
    import torch
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    cls = ESTIMATORS["CNNClassifier"]
    X, y = _data(cls())
    est = _small(cls, max_epochs=1).fit(X, y)
    path = tmp_path / "cnn.skd"
    dump(est, path)
    members = _members(path)
    name = _first(members, "tensors/")
    tensors = st_load(members[name])
    key = next(k for k in tensors if k.startswith("module.") and tensors[k].ndim > 1)
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, *tensors[key].shape[1:])
    members[name] = st_save(tensors)
    with pytest.raises(ArchiveError, match="do not fit"):
        load(_rewrite(path, members))


def test_module_estimator_device_and_hostile_nodes(tmp_path, monkeypatch):
    """A module_ saved on 'cuda' loads on the CPU here; weights of the wrong shape, an
    optimizer class outside torch.optim and an unknown torch node kind are refused."""
    import torch
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    est = _small(ESTIMATORS["CausalLanguageModel"])
    X, _ = _data(est)
    est.fit(X)
    path = tmp_path / "lm.skd"
    dump(est, path)
    expected = est.score_samples(X)

    def torch_node(manifest):
        return next(n["torch"] for n in _walk(manifest["root"]) if "torch" in n)

    def on_cuda(manifest):
        torch_node(manifest)["device"] = "cuda:0"

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load(_edit_manifest(path, on_cuda))
    assert next(loaded.module_.parameters()).device.type == "cpu"
    assert np.array_equal(loaded.score_samples(X), expected)

    def foreign_optimizer(manifest):
        torch_node(manifest)["optimizers"][0]["class"] = "os.system"

    def unknown_kind(manifest):
        torch_node(manifest)["kind"] = "pickle"

    for edit, match in [(foreign_optimizer, "not a torch.optim"), (unknown_kind, "kind")]:
        with pytest.raises(ArchiveError, match=match):
            load(_edit_manifest(path, edit))

    members = _members(path)
    name = _first(members, "tensors/")
    tensors = st_load(members[name])
    key = next(k for k in tensors if k.startswith("module.") and tensors[k].ndim > 1)
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, *tensors[key].shape[1:])
    members[name] = st_save(tensors)
    with pytest.raises(ArchiveError, match="do not fit"):
        load(_rewrite(path, members))
