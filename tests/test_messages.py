"""utils speaks the language of the notebook being run: its printouts and figure labels come
from i18n/zh_CN/utils.po in a Chinese notebook, in English elsewhere."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from tools import i18n  # noqa: E402
from utils import messages, plot, train  # noqa: E402
from utils.data import BatchIterator  # noqa: E402


@pytest.fixture
def english(monkeypatch, tmp_path):
    """A working folder with no language marker, and no language in the environment."""
    monkeypatch.delenv(messages.LANGUAGE_VARIABLE, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_utils_message_has_a_chinese_translation_with_the_same_fields():
    assert messages.UTILS.problems("zh_CN") == []


def test_a_new_message_without_translation_is_named(tmp_path):
    source = tmp_path / "new.py"
    source.write_text('say("epoch")\nsay("a label nobody translated")\n')
    assert messages.UTILS.problems("zh_CN", [source]) == ["new.py:2: no zh_CN translation of 'a label nobody translated'"]


def test_english_unless_the_notebook_is_chinese(english):
    assert messages.notebook_language() == "en" and messages.say("epoch") == "epoch"


def test_the_folder_marker_that_make_zh_writes_makes_it_chinese(english):
    i18n.write_folder_settings(english)
    assert messages.notebook_language() == "zh_CN" and messages.say("epoch") == "迭代周期"


def test_the_notebook_jupyterlab_started_the_kernel_for_decides(english, monkeypatch):
    notebook = english / "copy anywhere.ipynb"
    notebook.write_text(json.dumps({"metadata": {messages.TRANSLATION_KEY: {"language": "zh_CN"}}, "cells": []}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    assert messages.notebook_language() == "zh_CN"
    notebook.write_text(json.dumps({"metadata": {}, "cells": []}))  # an English notebook
    assert messages.notebook_language() == "en"


def test_the_variable_wins_and_an_unknown_language_warns(english, monkeypatch):
    i18n.write_folder_settings(english)
    monkeypatch.setenv(messages.LANGUAGE_VARIABLE, "en")
    assert messages.say("epoch") == "epoch"
    monkeypatch.setenv(messages.LANGUAGE_VARIABLE, "tlh")
    with pytest.warns(UserWarning, match="no catalog for"):
        assert messages.say("epoch") == "epoch"


def test_training_prints_and_plots_in_chinese_in_a_chinese_folder(english, capsys):
    i18n.write_folder_settings(english)
    torch.manual_seed(0)
    X, y = torch.rand(32, 4), torch.randint(0, 3, (32,))
    net = nn.Linear(4, 3)
    batches = BatchIterator(X, y, batch_size=8, shuffle=False)
    train.train(net, batches, batches, nn.CrossEntropyLoss(), 1, torch.optim.SGD(net.parameters(), lr=0.1),
                plot=False, eval_split="validation")
    assert capsys.readouterr().out.startswith("迭代周期 1：训练损失 ")
    ax = plot.plot_confusion_matrix(torch.eye(3, dtype=torch.int64), ["a", "b", "c"])
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("预测类别", "真实类别", "混淆矩阵")


def test_the_chinese_folders_carry_the_marker():
    for folder in ("notebooks", "solutions", "exercises"):
        assert (i18n.ZH_DIR / folder / messages.LANGUAGE_FILE).read_text(encoding="utf-8").strip() == "zh_CN"
