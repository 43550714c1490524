"""Everything a notebook needs, in one line: `from coursekit.all import *`.

Brings torch, `nn`, `F`, `np`, `array`, `pd`, `plt`, `matplotlib`, `Image`, `Path` (with fastai's
`Path.ls()`), the helpers of `utils`, the public names of every coursekit module, and, as fastai's
`from fastai.vision.all import *` does, the standard-library modules and names the book's code uses
without importing them (`string`, `math`, `random`, `os`, `re`, `partial`, `Counter`, ...).
Unlike `import coursekit`, this imports the heavy libraries (pandas, matplotlib), because notebooks use them.
"""
import collections, functools, glob, io, itertools, json, math, operator, os, pickle, random, re
import shutil, string, sys, time, warnings
from collections import Counter, OrderedDict, defaultdict, namedtuple
from copy import copy, deepcopy
from functools import partial, reduce
from operator import attrgetter, itemgetter
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy import array, ndarray
from PIL import Image
from torch import nn

from .utils import default_device, first, patch_path_ls, set_seed, to_np
from .lists import *
from .loaders import *
from .image_data import *
from .optim import *
from .callbacks import *
from .schedule import *
from .metrics import *
from .losses import *
from .learner import *
from .images import *
from .plots import *
from .models import *
from .vision import *
from .interpret import *
from .hooks import *
from .cam import *
from .data import *

patch_path_ls()
