"""The sentences of the seed papers that the studies' claims test (`memgen.analysis.claims.Comparison.quote`),
verbatim from /work/shared/seeds (000: Yoon et al. 2023; 001: the dummy-kinds follow-up report), with where they
stand. One home, so a claim's quote is written once and a reader of comparisons.md sees what was tested."""

from __future__ import annotations

H1_DROP = ('Yoon et al., Hypothesis 1: "As |S| grows past MC_{D,delta,0}(G_theta; T), the probability of train set '
           'replication drops quickly."')
H1_WIDTH = ('Yoon et al., Hypothesis 1: "MC_{D,delta,epsilon}(G_theta; T) is a positive number and increases with '
            'the number of parameters (dim theta) for any epsilon in (0, 1)."')
H2 = ('Yoon et al., Hypothesis 2: "simply adding dummy samples drawn independently from a disjointly supported '
      'distribution D\' to S can induce G_theta to perform conceptual learning with respect to D"; Figure 4: "only '
      '0.2% of conditionally generated MO images are replicates", and the samples "faithfully obeys the MO rules".')
C1 = ('Yoon et al., Appendix C.1 (unconditional model on 2k MO + 6k GM): "The ratio criterion detects 0 replicates '
      'within the 2,626 MO images, which is clearly consistent with our previous experiments" (Figure 9: original '
      'MO samples).')
C1_CONDITIONAL = ('Yoon et al., Appendix C.1: "conditional networks do not seem to have significantly different '
                  'memorization capacity from unconditional networks (considering that the difference in their number '
                  'of parameters is less than 1%)".')
H3 = ('Yoon et al., Hypothesis 3: "if the train set consists of a majority (large population) and a minority (small '
      'population) class, the model memorizes the minority class while generalizing with respect to the majority '
      'class."')
TWIN = ("memgen's control, not a sentence of the papers: the exposure-matched twin sees each base image as often as "
        "the base alone does, so its extra steps, not the dummies, are what it adds.")
REPORT_GM = ('The follow-up report: "adding GM dummy data has done a great job of motivating IDDPM to generalize new '
             'car images."')
REPORT_KINDS = {
    "gm": REPORT_GM,
    "hybrid": ('The follow-up report: "GM and car combination datasets have made a little improvement compared to '
               'GM"; "combining car images with GM images in the Fourier domain works best on model conceptual '
               'learning."'),
    "heldout": ('The follow-up report: "Adding more CIFAR-10 car images can finally catch up with the above two" '
                '(behind GM and the hybrid at the counts before).'),
    "shapes": ('The follow-up report: "simple geometric elements do not work well on encouraging IDDPM to '
               'generalize."'),
}
