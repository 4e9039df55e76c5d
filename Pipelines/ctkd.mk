# Collaborative teaching (CTKD, Zhao et al., "Highlight Every Step") and what it is compared
# with, on the pair of its paper — an expert WRN-40-1, a WRN-16-1 student — included by
# Makefile (same DATA, SCALE, SET, SEEDS, THREADS, -j).
#
#   make -C Pipelines [DATA=…] [SCALE=demo|paper] [SEEDS="0 1 2"] [-j2] ctkd
#
#   ctkd       for every seed of SEEDS, the student trained four ways:
#                baseline  on the labels alone (kd train)
#                kd        Hinton KD from the expert's stored logits
#                at        attention transfer from the expert's stored maps of group1…3
#                ctkd      CTKD: a scratch teacher (CTKD_SCRATCH) trained alongside the student,
#                          its logits guiding every step, plus the expert's attention maps
#
# The expert runs once: kd extract stores its logits and the attention maps of its three groups
# (at paper scale, for 4 views per training image too), and every student reads them. Layout:
#   Runs/<SET>/ctkd/expert/{model,features}.h5                       the expert and what it stored
#   Runs/<SET>/ctkd/<method>/student-seed<S>/model.h5                the students
#   Runs/<SET>/ctkd/ctkd/student-seed<S>/scratch/model.h5            CTKD's scratch teachers
#
# Recipes: recipes/<SCALE>-ctkd-{expert,student}.json. Paper scale, from the AT authors' WRN
# recipe that CTKD follows: 200 epochs, batch 128, SGD lr 0.1, momentum 0.9, weight decay 5e-4,
# crop and flip; their decay (×0.2 at epochs 60, 120, 160) becomes kd's fixed-period step
# schedule (×0.2 every 60 epochs: at 60, 120 and 180). β = 1000 (AT's code) and γ = 0.05
# (CTKD_FLAGS) are kd's defaults, not tuned. The demo trains the scratch teacher as a WRN-16-1
# to stay within its time; the paper's is the expert's architecture.

CTKD_EXPERT  ?= wrn-40-1
CTKD_STUDENT ?= wrn-16-1
ifeq ($(SCALE),demo)
  CTKD_SCRATCH ?= wrn-16-1
else
  CTKD_SCRATCH ?= $(CTKD_EXPERT)
endif
CTKD_TAPS    ?= group1,group2,group3
CTKD_FLAGS   ?= --beta 1000 --l2-weight 0.05
CTKD_EXPERT_RECIPE  ?= recipes/$(SCALE)-ctkd-expert.json
CTKD_STUDENT_RECIPE ?= recipes/$(SCALE)-ctkd-student.json

C := $(RUNS)/ctkd
CTKD_METHODS := baseline kd at ctkd

$(C)/expert/model.h5: $(STORE)
	$(TEACHER_LAUNCH) $(KD) train --arch $(CTKD_EXPERT) $(call threads,$(TEACHER_THREADS)) \
	  --data $(STORE) --out $(@D) --recipe $(CTKD_EXPERT_RECIPE)
$(C)/expert/features.h5: $(C)/expert/model.h5 | $(STORE)
	$(TEACHER_LAUNCH) $(KD) extract --model $< --data $(STORE) $(call threads,$(TEACHER_THREADS)) \
	  --out $@ --attention $(CTKD_TAPS) $(EXTRACT_FLAGS)

ctkd_student = $(C)/$(1)/student-seed$(2)/model.h5
# The students of one seed: ctkd_students(seed)
define ctkd_students
$(call ctkd_student,baseline,$(1)): $(STORE)
	$$(LAUNCH) $$(KD) train --arch $(CTKD_STUDENT) --data $(STORE) --out $$(@D) --recipe $(CTKD_STUDENT_RECIPE) \
	  --seed $(1) $(call threads,$(THREADS))
$(call ctkd_student,kd,$(1)): $(C)/expert/features.h5 | $(STORE)
	$$(LAUNCH) $$(KD) distill --method kd --arch $(CTKD_STUDENT) --targets $$< $(KD_FLAGS) --data $(STORE) --out $$(@D) \
	  --recipe $(CTKD_STUDENT_RECIPE) --seed $(1) $(call threads,$(THREADS))
$(call ctkd_student,at,$(1)): $(C)/expert/features.h5 | $(STORE)
	$$(LAUNCH) $$(KD) distill --method at --arch $(CTKD_STUDENT) --targets $$< --attention $(CTKD_TAPS) --beta 1000 \
	  --data $(STORE) --out $$(@D) --recipe $(CTKD_STUDENT_RECIPE) --seed $(1) $(call threads,$(THREADS))
$(call ctkd_student,ctkd,$(1)): $(C)/expert/features.h5 | $(STORE)
	$$(LAUNCH) $$(KD) distill --method ctkd --arch $(CTKD_STUDENT) --scratch $(CTKD_SCRATCH) --targets $$< \
	  --attention $(CTKD_TAPS) $(CTKD_FLAGS) --data $(STORE) --out $$(@D) --recipe $(CTKD_STUDENT_RECIPE) \
	  --seed $(1) $(call threads,$(THREADS))
endef
$(foreach s,$(SEEDS),$(eval $(call ctkd_students,$(s))))

# CTKD's runs first: they are the longest, so make -j fills the other cores around them.
CTKD_STUDENTS := $(foreach m,ctkd at kd baseline,$(foreach s,$(SEEDS),$(call ctkd_student,$(m),$(s))))
.PHONY: ctkd
ctkd: $(CTKD_STUDENTS)
