"""Everything a notebook needs, in one line: `from coursekit.all import *`.

Brings torch, `nn`, `F`, `np`, `array`, `pd`, `plt`, `Image`, `Path` (with fastai's `Path.ls()`),
the helpers of `utils`, and the public names of every coursekit module. Unlike `import coursekit`,
this imports the heavy libraries (pandas, matplotlib), because notebooks use them.
"""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy import array
from PIL import Image
from torch import nn

from .utils import default_device, first, patch_path_ls, set_seed, to_np
from .lists import *
from .loaders import *
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
