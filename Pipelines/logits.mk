# Logit distillation from stored logits — Hinton KD, TAKD and DGKD — on the ladder of CIFAR
# ResNets that TAKD and DGKD use, included by Makefile (same DATA, SCALE, SET, THREADS, -j).
#
#   make -C Pipelines [DATA=…] [SCALE=demo|paper] [SEEDS="0 1 2"] [-j2] baseline kd takd dgkd methods
#
#   baseline   the student trained on the labels alone (kd train)
#   kd         teacher → student (Hinton)
#   takd       teacher → TA → student, each link plain KD (Mirzadeh et al.)
#   dgkd       each level taught by every larger one: the first TA by the teacher, the next by the
#              teacher and the first TA, …, the student by all of them, one teacher's term left
#              out of each step where a level has several (Son et al.; --drop 1)
#   methods    all four, for every seed of SEEDS (the students; teacher and TAs use seed 0)
#
# Every teacher runs once: kd extract stores its logits (and, at paper scale, those of 4 views
# per training image), and every student reads them. Layout:
#   Runs/<SET>/logits/teacher/{model,features}.h5              the teacher (kd train) and its logits
#   Runs/<SET>/logits/takd/<TA>/{model,features}.h5            TAKD's assistant
#   Runs/<SET>/logits/dgkd/<TA>/{model,features}.h5            DGKD's assistants, largest first
#   Runs/<SET>/logits/<method>/student-seed<S>/model.h5        the students
#
# Recipes: recipes/<SCALE>-logits-{teacher,student}.json. Paper scale, from TAKD's train.py
# (imirzadeh/Teacher-Assistant-Knowledge-Distillation): 200 epochs, batch 128, SGD with lr 0.1,
# momentum 0.9, weight decay 1e-4; crop and flip. The decay (×0.1 every 60 epochs) is ours: kd's
# step schedule has a fixed period, not TAKD's plateau search. T = 4 and α = 0.9 (KD_FLAGS) are
# Hinton's common setting, not tuned per pair as TAKD's search does. TAKD's and DGKD's code
# average the KL over the classes too (PyTorch's default reduction): add --kl-reduction mean to
# KD_FLAGS to match them; kd's default is Hinton's batch mean.

LOGIT_TEACHER  ?= resnet26
TAKD_TA        ?= resnet14
DGKD_TAS       ?= resnet20 resnet14
LOGIT_STUDENT  ?= resnet8
SEEDS          ?= 0
KD_FLAGS       ?= --temperature 4 --alpha 0.9
LOGIT_TEACHER_RECIPE ?= recipes/$(SCALE)-logits-teacher.json
LOGIT_STUDENT_RECIPE ?= recipes/$(SCALE)-logits-student.json

L := $(RUNS)/logits
METHODS := baseline kd takd dgkd
# --drop 1 where a level has more than one teacher.
drop_for = $(if $(word 2,$(1)),--drop 1,)
# distill(arch, targets, seed): the command that trains $(@D) from the stored logits of targets.
distill = $$(LAUNCH) $$(KD) distill --method kd --arch $(1) $(addprefix --targets ,$(2)) $(call drop_for,$(2)) \
	  $(KD_FLAGS) --data $(STORE) --out $$(@D) --recipe $(LOGIT_STUDENT_RECIPE) --seed $(3) $(call threads,$(THREADS))

$(L)/teacher/model.h5: $(STORE)
	$(TEACHER_LAUNCH) $(KD) train --arch $(LOGIT_TEACHER) $(call threads,$(TEACHER_THREADS)) \
	  --data $(STORE) --out $(@D) --recipe $(LOGIT_TEACHER_RECIPE)
$(L)/teacher/features.h5: THREADS = $(TEACHER_THREADS)
$(L)/teacher/features.h5: STAGE_LAUNCH = $(TEACHER_LAUNCH)

define assistant
$(L)/$(1)/$(2)/model.h5: $(3) | $(STORE)
	$(call distill,$(2),$(3),0)
endef
$(eval $(call assistant,takd,$(TAKD_TA),$(L)/teacher/features.h5))
# DGKD: each assistant learns from the teacher and every assistant above it.
DGKD_ABOVE := $(L)/teacher/features.h5
define dgkd_assistant
$(call assistant,dgkd,$(1),$(DGKD_ABOVE))
DGKD_ABOVE += $(L)/dgkd/$(1)/features.h5
endef
$(foreach a,$(DGKD_TAS),$(eval $(call dgkd_assistant,$(a))))

# The students, one per method and seed.
student_of = $(L)/$(1)/student-seed$(2)/model.h5
define student
$(call student_of,$(1),$(2)): $(3) | $(STORE)
	$(call distill,$(LOGIT_STUDENT),$(3),$(2))
endef
define students
$(call student_of,baseline,$(1)): $(STORE)
	$$(LAUNCH) $$(KD) train --arch $(LOGIT_STUDENT) --data $(STORE) --out $$(@D) --recipe $(LOGIT_STUDENT_RECIPE) \
	  --seed $(1) $(call threads,$(THREADS))
$(call student,kd,$(1),$(L)/teacher/features.h5)
$(call student,takd,$(1),$(L)/takd/$(TAKD_TA)/features.h5)
$(call student,dgkd,$(1),$(DGKD_ABOVE))
endef
$(foreach s,$(SEEDS),$(eval $(call students,$(s))))

ALL_STUDENTS := $(foreach m,$(METHODS),$(foreach s,$(SEEDS),$(call student_of,$(m),$(s))))
.PHONY: $(METHODS) methods
$(foreach m,$(METHODS),$(eval $(m): $(foreach s,$(SEEDS),$(call student_of,$(m),$(s)))))
# The longest chain (DGKD's) first, so make -j fills the other cores around it.
methods: dgkd takd kd baseline
