"""ExportOptions: how an export looks (field names as in EasyRec's export_config)."""

import dataclasses
import os
from typing import Sequence, Tuple

from mx_rec.util.validation import check_bool, check_int


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Options of an export for serving.

    batch_size: leading dimension of every input placeholder; -1 (default)
      accepts any batch size.
    multi_placeholder: True (default): one placeholder per feature, of shape
      [batch_size] + the feature's row shape. False: one tf.string
      placeholder "features" of shape [batch_size]; each row holds every
      feature's values in the order the features were given (a feature of
      row shape [k] gives k consecutive values), joined by `separator`.
    placeholder_named_by_input: name each placeholder op after its feature
      (True) or "input_<i>", i = the feature's position (False, default, as in
      EasyRec). The signature's input keys are the feature names either way.
    separator: the field separator of the single placeholder (default ",").
    asset_files: paths of files copied into the SavedModel's assets/ (e.g. a
      vocabulary the serving side reads); each must exist.
    fp16: store table rows as float16 (half the size); lookups cast them back
      to float32. Default False (float32, bit-exact with training).
    export_done_file: when set, a file of this name is written into the
      export directory after everything else (a marker for schedulers).
    clear_export: remove the export base directory (all earlier exports)
      before exporting. Default False.
    """

    batch_size: int = -1
    multi_placeholder: bool = True
    placeholder_named_by_input: bool = False
    separator: str = ","
    asset_files: Tuple[str, ...] = ()
    fp16: bool = False
    export_done_file: str = ""
    clear_export: bool = False

    def __post_init__(self):
        if check_int("batch_size", self.batch_size, -1) == 0:
            raise ValueError("batch_size must be -1 (any batch size) or in [1, inf], got 0")
        check_bool("multi_placeholder", self.multi_placeholder)
        check_bool("placeholder_named_by_input", self.placeholder_named_by_input)
        check_bool("fp16", self.fp16)
        check_bool("clear_export", self.clear_export)
        if not isinstance(self.separator, str) or len(self.separator) != 1:
            raise ValueError(f"separator must be one character, got {self.separator!r}")
        if not isinstance(self.export_done_file, str) or os.sep in self.export_done_file:
            raise ValueError("export_done_file must be a file name (no directory), got "
                             f"{self.export_done_file!r}")
        files = self.asset_files
        if isinstance(files, (str, os.PathLike)) or not isinstance(files, Sequence):
            raise TypeError(f"asset_files must be a list of file paths, got {files!r}")
        for path in files:
            if not os.path.isfile(path):
                raise ValueError(f"asset_files: '{path}' is not a file")
        object.__setattr__(self, "asset_files", tuple(os.path.abspath(p) for p in files))


def resolve(options=None, **option_kwargs):
    """ExportOptions from an ExportOptions and/or keyword overrides."""
    if options is None:
        return ExportOptions(**option_kwargs)
    if not isinstance(options, ExportOptions):
        raise TypeError(f"options must be an ExportOptions, got {options!r}")
    return dataclasses.replace(options, **option_kwargs) if option_kwargs else options
