"""Saliency map sources: a folder of maps (or a SALICON results JSON) matched to COCO images.

A :class:`MapSource` indexes a folder once and matches each image to at most
one map file, by

1. the COCO file stem (``COCO_val2014_000000000192.png`` for
   ``COCO_val2014_000000000192.jpg``), and
2. the image id, written zero-padded (``000000000192.png``), plain
   (``192.png``) or as any COCO-style name ending in the id
   (``COCO_val2014_000000000192.png`` for an annotation file that names the
   image ``000000000192.jpg``; a COCO-style map name of another split or
   dataset, ``COCO_test2014_...``, is not a match for a ``COCO_val2014_...``
   image).

Every file that matches an image by either rule is a candidate: two candidates
(``COCO_val2014_000000000192.png`` and ``192.png``, or ``192.png`` and
``192.npy``) are an error, never a silent choice. An image without a match has
no map, and :meth:`MapSource.match` reports it. The source never guesses
beyond these rules.

Map names with a suffix or prefix
    Maps written by saliency models often carry one (TempSAL's
    ``COCO_val2014_000000082174_final_bw.png``, ``..._imgt.png``). A *map
    pattern* names the map of an image: ``{stem}_final_bw`` (the image's file
    stem, or its id in any of the forms above, followed by ``_final_bw``) or
    ``sal_{id}`` (the image id, any zero-padding). With a pattern, only files
    whose stem has that form are maps; the others (the photos a released folder
    holds beside its maps, say) are skipped and counted (:attr:`MapSource.skipped`).
    Without one the pattern is ``{stem}``. Hidden files (``.name``) are never maps.

A SALICON results JSON
    (:mod:`salanalysis.maps.results_json`: a list of ``{image_id, saliency_map}`` with a
    base64-encoded image) is a source like a folder, matched by image id.

What a map file may hold (reading rules)
    8- or 16-bit grayscale PNG/JPG/BMP/TIFF and float 2-D ``.npy`` arrays.
    A 3-channel (or 4-channel) image whose colour channels are equal is read
    as gray (exactly: the common channel). One whose channels differ is a
    colour image, most likely a photo, and is **refused** with an error naming
    it, unless ``colour="luminance"``: then it is converted to gray by OpenCV's
    ``COLOR_BGR2GRAY`` (ITU-R BT.601 luma, ``0.299 R + 0.587 G + 0.114 B``).
    An alpha channel is ignored (the map is read from the colour channels);
    when it is not fully opaque the map is counted (:data:`NOTE_ALPHA`).
    Maps are returned as float32 at the image's own size: **bilinear resize**
    (``cv2.INTER_LINEAR``, stretching the map when its aspect ratio differs
    from the image's: counted, :data:`NOTE_ASPECT`), **then min-max
    normalisation** to [0, 1] per map, as in the paper. A constant map has no
    saliency: it normalises to all zeros (counted, :data:`NOTE_CONSTANT`).
    Callers report each count once per source (:func:`note_messages`).
    OpenCV's and libpng's own messages while decoding are silenced: a file that
    cannot be decoded is one :class:`InputError` line naming it.

Map folders are written by :func:`write_map_directory` (8-bit PNGs, staged and
moved into place only when every map was computed; resumable), the writer of
every map folder of this package (baselines, SALICON fixations, the saliency
network).
"""

from salanalysis.maps.read import (
    COLOUR_RULES,
    MAP_EXTENSIONS,
    NOTE_ALPHA,
    NOTE_ASPECT,
    NOTE_COLOUR,
    NOTE_CONSTANT,
    NOTE_NAMES,
    ColourRule,
    MapRef,
    aspect_differs,
    decode_gray_image,
    decode_map,
    load_map,
    normalize_map,
    note_messages,
    read_map,
    read_raw,
)
from salanalysis.maps.results_json import EncodedMap, read_results_json, write_results_json
from salanalysis.maps.sized import SIZE_MAPS, SizeMap, SizeMapSource, center_bias_array
from salanalysis.maps.source import MapSource, map_pattern_regex
from salanalysis.maps.write import check_map_names, files_key, staged_map_names, write_map_directory

__all__ = [
    "MapSource",
    "SizeMapSource",
    "SizeMap",
    "SIZE_MAPS",
    "center_bias_array",
    "MapRef",
    "EncodedMap",
    "ColourRule",
    "COLOUR_RULES",
    "decode_map",
    "decode_gray_image",
    "read_raw",
    "read_map",
    "load_map",
    "normalize_map",
    "aspect_differs",
    "map_pattern_regex",
    "note_messages",
    "NOTE_ALPHA",
    "NOTE_COLOUR",
    "NOTE_CONSTANT",
    "NOTE_ASPECT",
    "NOTE_NAMES",
    "MAP_EXTENSIONS",
    "read_results_json",
    "write_results_json",
    "write_map_directory",
    "staged_map_names",
    "check_map_names",
    "files_key",
]
