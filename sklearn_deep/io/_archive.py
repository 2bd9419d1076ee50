"""The container of a saved model: a zip archive of a JSON manifest, ``.npy`` arrays and
safetensors weights, read without pickle and with every size checked before it is used.

Members (nothing else is accepted on load):

- ``manifest.json``: format name and version, library versions, the object tree (see
  ``_tree``); deflated, at most ``MAX_MANIFEST_BYTES`` once inflated;
- ``arrays/<n>.npy``: one numeric or string array each (``numpy.lib.format``, never an
  object dtype), stored uncompressed;
- ``tensors/<n>.safetensors``: one group of named torch tensors each (a module's
  ``state_dict``), stored uncompressed.

Binary members are stored, not deflated, so that their size on load is bounded by the size
of the file itself (no decompression bomb); the manifest is the only deflated member.
"""

import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

FORMAT_NAME = "sklearn-deep"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_NPY_HEADER_BYTES = 10_000  # numpy's own default limit for a safe header
MAX_MEMBERS = 100_000

_MEMBER_RE = re.compile(
    r"\A(?:manifest\.json|arrays/[0-9]{1,9}\.npy|tensors/[0-9]{1,9}\.safetensors)\Z"
)
# numeric, boolean and fixed-width string dtypes only: nothing that needs pickle
_ARRAY_KINDS = frozenset("biufcUS")


class ArchiveError(ValueError):
    """Raised by :func:`~sklearn_deep.io.load` for a file it cannot or will not read.

    The file is not a model file, is truncated or corrupted, was written by a newer format
    version, or holds something the reader refuses (a pickle payload, an unexpected member
    such as a path-like name, an oversized or inconsistent array header). A ``ValueError``.

    Parameters
    ----------
    message : str
        What is wrong, naming the file and the member.

    Examples
    --------
    >>> import io
    >>> from sklearn_deep.io import ArchiveError, load
    >>> try:
    ...     load(io.BytesIO(b"not a model"))
    ... except ArchiveError as exc:
    ...     print("refused:", str(exc)[:40])
    refused: The file is not a sklearn-deep model fil
    """

    def __init__(self, message):
        super().__init__(message)


def check_array_dtype(dtype, where):
    """Raise ``ValueError`` unless ``dtype`` can go to a ``.npy`` member without pickle."""
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in _ARRAY_KINDS:
        raise ValueError(
            f"Cannot save the array at {where}: dtype {dtype!r} is not a plain numeric, boolean "
            "or fixed-width string dtype."
        )


class ArchiveWriter:
    """Collects the binary members (:meth:`add_array`, :meth:`add_tensors`), then writes the
    whole archive in one go (:meth:`write`)."""

    def __init__(self):
        self._members = []  # (name, bytes)

    def add_array(self, array, where):
        """Store ``array`` (numeric/bool/string ndarray) as a new ``.npy`` member; return its
        name."""
        check_array_dtype(array.dtype, where)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array, allow_pickle=False)
        name = f"arrays/{len(self._members)}.npy"
        self._members.append((name, buf.getvalue()))
        return name

    def add_tensors(self, data):
        """Store serialized safetensors bytes as a new member; return its name."""
        name = f"tensors/{len(self._members)}.safetensors"
        self._members.append((name, data))
        return name

    def write(self, target, manifest):
        """Write the archive to ``target`` (a path or a writable binary file object).

        A path is written through a temporary file in the same directory, renamed onto the
        target at the end, so a failed dump never leaves a partial file behind.
        """
        manifest_bytes = json.dumps(manifest, allow_nan=False, separators=(",", ":")).encode()
        if hasattr(target, "write"):
            self._write_zip(target, manifest_bytes)
            return
        target = os.fspath(target)
        directory = os.path.dirname(os.path.abspath(target))
        fd, tmp = tempfile.mkstemp(prefix=".sklearn-deep-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                self._write_zip(f, manifest_bytes)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _write_zip(self, fileobj, manifest_bytes):
        with zipfile.ZipFile(fileobj, "w") as zf:
            zf.writestr(MANIFEST, manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in self._members:
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)


class ArchiveReader:
    """Reads and checks the members of a saved model.

    Parameters
    ----------
    source : str, path-like or readable binary file object
        The saved model.
    """

    def __init__(self, source):
        self._source = source
        try:
            self._zip = zipfile.ZipFile(source if hasattr(source, "read") else os.fspath(source))
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ArchiveError(
                f"{self._label()} is not a sklearn-deep model file, or it is truncated or "
                f"corrupted (not a readable zip archive: {exc})."
            ) from None
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f"{self._label()} has too many members ({len(infos)}).")
        self._infos = {}
        for info in infos:
            if not _MEMBER_RE.match(info.filename):
                raise ArchiveError(
                    f"{self._label()} contains an unexpected member {info.filename!r}: a model "
                    "file holds only manifest.json, arrays/<n>.npy and tensors/<n>.safetensors "
                    "(path-like, absolute or pickle members are refused)."
                )
            if info.filename in self._infos:
                raise ArchiveError(f"{self._label()} has a duplicated member {info.filename!r}.")
            if info.filename != MANIFEST and info.compress_type != zipfile.ZIP_STORED:
                raise ArchiveError(
                    f"Member {info.filename!r} of {self._label()} is compressed; binary members "
                    "of a model file are stored uncompressed."
                )
            self._infos[info.filename] = info

    def _label(self):
        return "The file" if hasattr(self._source, "read") else f"{os.fspath(self._source)!r}"

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ raw members
    def _read(self, name, limit):
        info = self._infos.get(name)
        if info is None:
            raise ArchiveError(f"{self._label()} is corrupted: member {name!r} is missing.")
        if info.file_size > limit:
            raise ArchiveError(
                f"Member {name!r} of {self._label()} is too large ({info.file_size} bytes, "
                f"limit {limit})."
            )
        try:
            with self._zip.open(info) as f:
                data = f.read(limit + 1)
        except (
            zipfile.BadZipFile,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,  # an encrypted member
        ) as exc:
            raise ArchiveError(
                f"{self._label()} is truncated or corrupted: cannot read member {name!r} "
                f"({type(exc).__name__}: {exc})."
            ) from None
        if len(data) != info.file_size:
            raise ArchiveError(
                f"{self._label()} is truncated or corrupted: member {name!r} has "
                f"{len(data)} bytes, {info.file_size} expected."
            )
        return data

    def manifest(self):
        """The parsed manifest, after the format and version checks."""
        raw = self._read(MANIFEST, MAX_MANIFEST_BYTES)

        def no_constants(name):
            raise ValueError(f"non-standard JSON constant {name}")

        try:
            manifest = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ArchiveError(
                f"{self._label()} is corrupted: its manifest is not valid JSON "
                f"({type(exc).__name__}: {str(exc)[:200]})."
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise ArchiveError(f"{self._label()} is not a sklearn-deep model file.")
        version = manifest.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ArchiveError(f"{self._label()} is corrupted: invalid format_version {version!r}.")
        if version > FORMAT_VERSION:
            raise ArchiveError(
                f"{self._label()} was written in model format version {version} (by "
                f"sklearn-deep {manifest.get('versions', {}).get('sklearn_deep', '?')}); this "
                f"version of sklearn-deep reads format versions up to {FORMAT_VERSION}. "
                "Upgrade sklearn-deep to load it."
            )
        if "root" not in manifest:
            raise ArchiveError(f"{self._label()} is corrupted: the manifest has no 'root'.")
        return manifest

    def array(self, name, dtype, shape):
        """The array of ``.npy`` member ``name``; its header must announce ``dtype`` and
        ``shape`` (as recorded in the manifest) and match the member's size exactly."""
        if not isinstance(name, str) or not name.startswith("arrays/"):
            raise ArchiveError(f"{self._label()} is corrupted: bad array reference {name!r}.")
        info = self._infos.get(name)
        if info is None:
            raise ArchiveError(f"{self._label()} is corrupted: member {name!r} is missing.")
        data = self._read(name, info.file_size)
        f = io.BytesIO(data)
        try:
            major, minor = np.lib.format.read_magic(f)
            if (major, minor) == (1, 0):
                header = np.lib.format.read_array_header_1_0(
                    f, max_header_size=MAX_NPY_HEADER_BYTES
                )
            elif (major, minor) == (2, 0):
                header = np.lib.format.read_array_header_2_0(
                    f, max_header_size=MAX_NPY_HEADER_BYTES
                )
            else:
                raise ValueError(f"unsupported .npy version {major}.{minor}")
        except (ValueError, SyntaxError, TypeError, EOFError, OverflowError) as exc:
            raise ArchiveError(
                f"Member {name!r} of {self._label()} is not a valid .npy array or has an "
                f"oversized or malformed header ({type(exc).__name__}: {str(exc)[:200]})."
            ) from None
        file_shape, fortran, file_dtype = header
        if file_dtype.hasobject or file_dtype.fields is not None:
            raise ArchiveError(
                f"Member {name!r} of {self._label()} holds an object or structured array, "
                "which would need pickle to load: refused."
            )
        if file_dtype.kind not in _ARRAY_KINDS:
            raise ArchiveError(
                f"Member {name!r} of {self._label()} has an unsupported dtype {file_dtype!r}."
            )
        if file_dtype.str != dtype or list(file_shape) != list(shape):
            raise ArchiveError(
                f"{self._label()} is corrupted: member {name!r} holds dtype {file_dtype.str} "
                f"and shape {file_shape}, the manifest says {dtype} and {tuple(shape)}."
            )
        count = 1
        for s in file_shape:
            count *= int(s)
        offset = f.tell()
        if count * file_dtype.itemsize != len(data) - offset:
            raise ArchiveError(
                f"{self._label()} is truncated or corrupted: member {name!r} announces "
                f"{count * file_dtype.itemsize} bytes of data and holds {len(data) - offset}."
            )
        flat = np.frombuffer(data, dtype=file_dtype, count=count, offset=offset)
        return flat.reshape(file_shape, order="F" if fortran else "C").copy(
            order="F" if fortran else "C"
        )

    def tensors(self, name):
        """The tensors of safetensors member ``name``, as a dict of CPU torch tensors."""
        if not isinstance(name, str) or not name.startswith("tensors/"):
            raise ArchiveError(f"{self._label()} is corrupted: bad tensor reference {name!r}.")
        info = self._infos.get(name)
        if info is None:
            raise ArchiveError(f"{self._label()} is corrupted: member {name!r} is missing.")
        data = self._read(name, info.file_size)
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            return load(data)
        except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
            raise ArchiveError(
                f"Member {name!r} of {self._label()} is not a valid safetensors file "
                f"({type(exc).__name__}: {str(exc)[:200]})."
            ) from None
