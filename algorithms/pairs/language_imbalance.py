"""Language Imbalance Driven Rewarding (Yang et al. 2024): the gap between a dominant and a target language is the
preference signal. The policy answers the same question in both languages, then each answer is translated into
the other language.

    English side: chosen = y_en,           rejected = translate(y_L -> en)     (prompt x_en)
    Target side:  chosen = translate(y_en -> L), rejected = y_L                 (prompt x_L)

Pairs whose translation failed are dropped; all target languages are pooled. Real models translate with their own
generations (`translator: policy`); the tiny model of the embedded world cannot, so its demo uses the world's rule
translator (`translator: world`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from algorithms.pairs.base import (
    BuildResult,
    PairBuilder,
    PairBuilderConfig,
    PairContext,
    generation_record,
    make_pair,
    response,
    written,
)
from rlcore.registry import PAIR_BUILDERS
from rlcore.translation import LANGUAGE_NAMES
from rlcore.world.translate import translate_solution


class LanguageImbalanceConfig(PairBuilderConfig):
    dominant: str = Field("en", description="The stronger language whose answers are preferred.")
    targets: list[str] | None = Field(None, description="None = the training languages except the dominant one.")
    translator: Literal["policy", "world"] = Field(
        "policy", description="policy: the model translates; world: the embedded world's rule translator."
    )
    translate_prompt: str = Field(
        "Translate the following text from {source} into {target}. Reply with the translation only.\n\n{text}\n",
        description="Prompt for translator=policy; {source}/{target} are language names.",
    )
    translate_max_tokens: int | None = Field(
        None, description="Longest translation in tokens; None = rollout.max_tokens."
    )


@PAIR_BUILDERS.register("language_imbalance")
class LanguageImbalance(PairBuilder):
    Config = LanguageImbalanceConfig
    config: LanguageImbalanceConfig

    def targets(self) -> list[str]:
        targets = self.config.targets or [lang for lang in self.train_languages if lang != self.config.dominant]
        if not targets:
            raise ValueError(
                "language_imbalance needs target languages: set data.train_languages to the dominant "
                "language plus at least one other, or pair_builder.targets"
            )
        return targets

    def prompt_languages(self) -> list[str]:
        return [self.config.dominant]

    def build(self, prompts: list[dict[str, Any]], ctx: PairContext) -> BuildResult:
        dominant, dropped = self.config.dominant, {"missing_translation_of_question": 0, "translation_failed": 0}
        jobs = []  # (x_dominant, x_target) for every question and target language that has the question
        for row in prompts:
            for target in self.targets():
                target_row = ctx.rows_by_key.get((row["id"], target))
                if target_row is None:
                    dropped["missing_translation_of_question"] += 1
                    continue
                jobs.append((row, target_row))
        dominant_answers = {s["id"]: s for s in ctx.generate(prompts, n=1)}
        target_answers = ctx.generate([target_row for _, target_row in jobs], n=1)
        to_target = self.translate(
            [(dominant_answers[x["id"]]["response_text"], dominant, t["language"]) for x, t in jobs], ctx
        )
        to_dominant = self.translate([(y["response_text"], y["language"], dominant) for y in target_answers], ctx)

        pairs, generations = [], [generation_record(s, role="answer") for s in dominant_answers.values()]
        for (x_dom, x_tgt), y_tgt, y_dom_in_tgt, y_tgt_in_dom in zip(
            jobs, target_answers, to_target, to_dominant, strict=True
        ):
            y_dom = dominant_answers[x_dom["id"]]
            generations += [
                generation_record(y_tgt, role="answer"),
                translation_record(x_dom["id"], x_tgt["language"], y_dom["response_text"], y_dom_in_tgt),
                translation_record(x_dom["id"], dominant, y_tgt["response_text"], y_tgt_in_dom),
            ]
            if y_tgt_in_dom is not None:  # dominant side
                pairs.append(
                    make_pair(
                        x_dom,
                        y_dom["prompt_ids"],
                        response(y_dom),
                        written(y_tgt_in_dom, ctx),
                        side="dominant",
                        paired_language=x_tgt["language"],
                    )
                )
            else:
                dropped["translation_failed"] += 1
            if y_dom_in_tgt is not None:  # target side
                pairs.append(
                    make_pair(
                        x_tgt,
                        y_tgt["prompt_ids"],
                        written(y_dom_in_tgt, ctx),
                        response(y_tgt),
                        side="target",
                        paired_language=dominant,
                    )
                )
            else:
                dropped["translation_failed"] += 1
        return BuildResult(pairs, generations, dropped)

    def translate(self, jobs: list[tuple[str, str, str]], ctx: PairContext) -> list[str | None]:
        """Each (text, source, target) translated, or None where the translation failed."""
        if self.config.translator == "world":
            return [translate_solution(text, source, target) for text, source, target in jobs]
        requests = [
            {
                "prompt": self.config.translate_prompt.format(
                    source=LANGUAGE_NAMES.get(source, source), target=LANGUAGE_NAMES.get(target, target), text=text
                )
            }
            for text, source, target in jobs
        ]
        extra = {"max_tokens": self.config.translate_max_tokens} if self.config.translate_max_tokens else {}
        outputs = ctx.generate(requests, n=1, temperature=0.0, **extra)
        return [
            out["response_text"].strip() if out["finish_reason"] == "stop" and out["response_text"].strip() else None
            for out in outputs
        ]


def translation_record(question_id: str, language: str, source: str, translation: str | None) -> dict[str, Any]:
    """One line of generations.jsonl for a translation into `language` (None: it failed)."""
    return {
        "id": question_id,
        "language": language,
        "role": "translation",
        "source": source,
        "translation": translation,
    }
